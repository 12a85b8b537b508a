"""Front ends over the Summarizer: the FastAPI app, the Gradio demo, Azure ML's score.py.
Imports `t5sum.inference` only (never model/, Lightning or cloud/)."""
