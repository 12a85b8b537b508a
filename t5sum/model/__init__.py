"""Model layer: the LightningModule, peft wiring and the precision policy."""
