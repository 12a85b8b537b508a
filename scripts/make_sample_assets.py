#!/usr/bin/env python
"""Generate the tiny, synthetic, offline assets used by the quickstart (``experiment=smoke``).

Writes, deterministically (same ``--seed`` -> byte-identical files):

* ``<out>/sample/{train,validation,test}.jsonl``: template-made DialogSum-style dialogues with a one-sentence
  summary that is a deterministic function of the slots (names, places, days, items, prices, times). No real
  dataset text is used.
* ``<out>/tiny-tokenizer/``: a BPE tokenizer (T5 ids: ``<pad>``=0, ``</s>``=1, ``<unk>``=2; NFKC;
  Metaspace; ``</s>`` appended by the post-processor) trained on the train split only.
* ``<out>/tiny-t5/config.json``: a T5 config for a model with a few hundred thousand parameters.

Usage: ``python scripts/make_sample_assets.py [--out t5sum/resources] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SPLIT_SIZES: dict[str, int] = {"train": 400, "validation": 40, "test": 40}
SPECIAL_TOKENS: list[str] = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2, as in T5
DEFAULT_VOCAB_SIZE = 800
MODEL_MAX_LENGTH = 512
# Dialogue lengths: 3-8 turns, skewed short so the three jsonl files stay under 200 KB (~170 KB).
TURN_WEIGHTS: dict[int, int] = {3: 4, 4: 4, 5: 3, 6: 2, 7: 1, 8: 1}
MIN_WORDS, MAX_WORDS = 20, 120

NAMES = [
    "Tom", "Anna", "Li Wei", "Maria", "Sam", "Nora", "David", "Emma", "Jack", "Lucy", "Omar", "Grace",
    "Ben", "Chloe", "Ivan", "Julia", "Kevin", "Laura", "Mike", "Nina", "Paul", "Rosa", "Steve", "Yuki",
    "Carlos", "Fatima", "George", "Hannah", "Igor", "Jasmine", "Leo", "Mei", "Oliver", "Priya", "Victor",
]  # fmt: skip
PLACES = [
    "library", "station", "market", "park", "cafe", "museum", "mall", "gym", "bakery", "bookstore",
    "hotel", "airport", "cinema", "bank", "pharmacy", "stadium", "post office", "bus stop", "garden",
    "theater", "zoo", "beach", "restaurant", "supermarket",
]  # fmt: skip
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ITEMS = [
    "lamp", "bike", "coat", "camera", "desk", "kettle", "guitar", "phone", "backpack", "chair", "watch",
    "printer", "sofa", "umbrella", "jacket", "laptop", "mirror", "blanket", "toaster", "helmet",
    "scarf", "clock", "vase", "tablet", "suitcase", "painting", "rug", "fridge", "violin", "tent",
]  # fmt: skip
TIMES = ["8 am", "9 am", "10 am", "11 am", "noon", "2 pm", "3 pm", "4 pm", "5 pm", "6 pm", "7 pm", "8 pm"]
PRICES = [15, 20, 25, 30, 35, 40, 45, 50, 60, 75, 80, 90, 120, 150, 200]
EVENTS = [
    "meeting", "dentist visit", "dinner", "interview", "class", "tennis match", "lunch", "haircut",
    "piano lesson", "driving test", "job review", "yoga session",
]  # fmt: skip
COUNTS = ["two", "three", "four", "five", "six", "seven"]
CITIES = ["Boston", "Paris", "Tokyo", "Madrid", "Cairo", "Sydney", "Dublin", "Vienna", "Seoul", "Lima"]
VEHICLES = ["train", "bus", "ferry", "plane"]

OPENINGS: list[tuple[str, str]] = [
    ("Hi, do you have a minute?", "Sure, what is it?"),
    ("Hello, how are you today?", "Fine, thanks. What's up?"),
    ("Good morning.", "Morning! How can I help?"),
    ("Hey, are you busy?", "Not really. Go ahead."),
    ("Excuse me, can I ask you something?", "Of course."),
    ("Good evening.", "Good evening. What can I do for you?"),
]
FILLERS = [
    "That sounds good.", "Great, thank you.", "No problem.", "Let me write that down.", "OK, I'll remember.",
    "Perfect, that works.", "Are you sure?", "Yes, quite sure.", "Wonderful.", "I can't wait.",
    "Don't be late.", "I promise I won't.", "Exactly.", "Good idea.", "Really? Why?", "I just checked.",
    "Sounds fair.", "Absolutely.", "Hmm, let me think.", "Fine by me.",
]  # fmt: skip
CLOSERS = ["See you then.", "Thanks, bye.", "See you soon.", "Talk to you later.", "Have a nice day.", "Bye!"]

Slots = dict[str, str]


@dataclass(frozen=True)
class Scenario:
    """Core turns (each a tuple of paraphrases) and the summary: ``str.format`` templates over the slots."""

    turns: tuple[tuple[str, ...], ...]
    summary: str


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        turns=(
            (
                "Are you free on {day}? I want to buy {a_item} at the {place}.",
                "Can you help me buy {a_item} at the {place} on {day}?",
                "I'm going to the {place} on {day} to get {a_item}. Join me?",
            ),
            ("Yes, I can come. How much is it?", "Sure. What does it cost?", "OK. Is it expensive?"),
            (
                "About {price} dollars. Let's meet at {time}.",
                "It costs {price} dollars. Meet me there at {time}.",
                "Just {price} dollars. See you there at {time}.",
            ),
        ),
        summary="#Person1# and #Person2# will meet at the {place} at {time} on {day} to buy {a_item} "
        "for {price} dollars.",
    ),
    Scenario(
        turns=(
            (
                "I need to move my {event} with {name} from {day} to {day2}.",
                "Could we change my {event} with {name} from {day} to {day2}?",
                "Sorry, I can't make the {event} with {name} on {day}. Is {day2} possible?",
            ),
            (
                "Is {time} on {day2} fine?",
                "We have {time} free on {day2}.",
                "Let me check. {day2} at {time} is open.",
            ),
            (
                "Yes, {time} is fine. I will tell {name}.",
                "{time} works. Thank you.",
                "Perfect, please book it.",
            ),
        ),
        summary="#Person1# moves the {event} with {name} from {day} to {time} on {day2}.",
    ),
    Scenario(
        turns=(
            (
                "I'd like to book a table for {count} on {day}, please.",
                "Do you have a table for {count} people on {day}?",
                "Can I reserve a table for {count} this {day}?",
            ),
            ("Of course. What time?", "Yes, we do. When would you like to come?", "Certainly. For when?"),
            (
                "At {time}. The name is {name}.",
                "Around {time}, under {name}.",
                "{time}, please. Put it under {name}.",
            ),
        ),
        summary="#Person1# books a table for {count} at {time} on {day} under the name {name}.",
    ),
    Scenario(
        turns=(
            (
                "I lost my {item} at the {place} on {day}.",
                "I left my {item} somewhere in the {place} on {day}.",
                "My {item} is missing. I last saw it at the {place} on {day}.",
            ),
            (
                "Oh no. Did you ask the staff?",
                "That's bad. Did you call them?",
                "What a pity! Any luck so far?",
            ),
            (
                "Not yet. Can you come with me at {time}?",
                "No. Will you go there with me at {time}?",
                "None. Could we search together at {time}?",
            ),
        ),
        summary="#Person1# lost {a_item} at the {place} on {day} "
        "and #Person2# will help look for it at {time}.",
    ),
    Scenario(
        turns=(
            (
                "How much is this {item}?",
                "Excuse me, what is the price of this {item}?",
                "I really like this {item}. What's the price?",
            ),
            (
                "It is {price} dollars. We can deliver it on {day}.",
                "Only {price} dollars, and delivery on {day} is free.",
                "{price} dollars. It would arrive on {day}.",
            ),
            (
                "Great, I'll take it. My name is {name}.",
                "Fine, I'll buy it. It's for {name}.",
                "Deal. Please write {name} on the order.",
            ),
        ),
        summary="#Person2# sells {name} {a_item} for {price} dollars and will deliver it on {day}.",
    ),
    Scenario(
        turns=(
            (
                "{name} is having a party at the {place} on {day}. Will you come?",
                "Would you like to come to {name}'s party at the {place} on {day}?",
                "We're throwing a surprise party for {name} at the {place} on {day}. Interested?",
            ),
            ("I'd love to. What time does it start?", "Sure! When does it begin?", "Count me in. What time?"),
            (
                "At {time}. Please bring {a_item} as a gift.",
                "At {time}. Bring {a_item}, OK?",
                "{time}. Could you bring {a_item}?",
            ),
        ),
        summary="#Person1# invites #Person2# to {name}'s party at the {place} at {time} on {day}; "
        "#Person2# will bring {a_item}.",
    ),
    Scenario(
        turns=(
            (
                "Shall we take the {vehicle} to {city} on {day}?",
                "I want to visit {city} on {day}. Should we go by {vehicle}?",
                "How about a trip to {city} this {day}, by {vehicle}?",
            ),
            ("Good plan. When do we leave?", "Why not! What time do we start?", "Lovely. When should we go?"),
            (
                "The {vehicle} leaves at {time}. Tickets are {price} dollars.",
                "Let's leave at {time}. It's {price} dollars each.",
                "At {time}. The fare is {price} dollars.",
            ),
        ),
        summary="#Person1# and #Person2# will take the {vehicle} to {city} at {time} on {day} "
        "for {price} dollars each.",
    ),
    Scenario(
        turns=(
            (
                "My {item} is broken. Can you fix it?",
                "Could you repair this {item} for me?",
                "Something is wrong with my {item}. Do you do repairs?",
            ),
            (
                "Yes. It will cost {price} dollars and be ready on {day}.",
                "Sure, {price} dollars. Come back on {day}.",
                "We can. That's {price} dollars, ready by {day}.",
            ),
            (
                "Fine. I'll pick it up at {time}.",
                "OK, I will come at {time} then.",
                "Good. See you at {time} that day.",
            ),
        ),
        summary="#Person2# will repair #Person1#'s {item} for {price} dollars "
        "and #Person1# will pick it up at {time} on {day}.",
    ),
)


def _sample_slots(rng: random.Random) -> Slots:
    day, day2 = rng.sample(DAYS, 2)
    item = rng.choice(ITEMS)
    return {
        "name": rng.choice(NAMES),
        "place": rng.choice(PLACES),
        "day": day,
        "day2": day2,
        "item": item,
        "a_item": f"{'an' if item[0] in 'aeiou' else 'a'} {item}",
        "time": rng.choice(TIMES),
        "price": str(rng.choice(PRICES)),
        "event": rng.choice(EVENTS),
        "count": rng.choice(COUNTS),
        "city": rng.choice(CITIES),
        "vehicle": rng.choice(VEHICLES),
    }


def make_dialogue(rng: random.Random) -> tuple[str, str]:
    """One (document, summary): 3-8 alternating turns = [opening pair] + core turns + [fillers + closer]."""
    scenario = rng.choice(SCENARIOS)
    slots = _sample_slots(rng)
    core = [rng.choice(paraphrases).format(**slots) for paraphrases in scenario.turns]
    n_turns = max(len(core), rng.choices(list(TURN_WEIGHTS), weights=list(TURN_WEIGHTS.values()))[0])
    # The opening is a pair of turns, so #Person1# always speaks the first core turn.
    turns = [*rng.choice(OPENINGS), *core] if n_turns - len(core) >= 2 else core
    if (extra := n_turns - len(turns)) >= 1:
        turns = [*turns, *rng.sample(FILLERS, extra - 1), rng.choice(CLOSERS)]
    document = "\n".join(f"#Person{1 + i % 2}#: {text}" for i, text in enumerate(turns))
    return document, scenario.summary.format(**slots)


def generate_split(rng: random.Random, split: str, size: int, seen: set[str]) -> list[dict[str, str]]:
    """``size`` records with unique ids; documents never repeat across splits (``seen`` is shared)."""
    records: list[dict[str, str]] = []
    while len(records) < size:
        document, summary = make_dialogue(rng)
        n_words = len(document.split())
        if document in seen or not MIN_WORDS <= n_words <= MAX_WORDS:
            continue
        seen.add(document)
        records.append({"id": f"sample-{split}-{len(records)}", "document": document, "summary": summary})
    return records


def write_jsonl(path: Path, records: Sequence[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def train_tokenizer(texts: Sequence[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> Tokenizer:
    """A T5-like tokenizer: NFKC (+ whitespace collapse), Metaspace, ``$A </s>`` post-processing.

    BPE rather than T5's Unigram: the ``tokenizers`` Unigram trainer is not reproducible byte for byte
    (its tie order and the scores of rare characters follow hash-set order); the BPE trainer is, whatever
    the number of threads.
    """
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != expected_id:
            raise RuntimeError(f"special token {token!r} did not get id {expected_id}")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", SPECIAL_TOKENS.index("</s>"))]
    )
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, out_dir: Path) -> int:
    """Save as a ``PreTrainedTokenizerFast`` (loadable by ``AutoTokenizer``); returns ``len(tokenizer)``."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=MODEL_MAX_LENGTH,
        model_input_names=["input_ids", "attention_mask"],  # as T5TokenizerFast: no token_type_ids
    )
    fast.save_pretrained(str(out_dir))
    return len(fast)


def write_model_config(out_dir: Path, vocab_size: int) -> None:
    from transformers import T5Config

    config = T5Config(
        vocab_size=vocab_size,
        d_model=64,
        d_ff=128,
        d_kv=16,
        num_heads=4,
        num_layers=2,
        num_decoder_layers=2,
        relative_attention_num_buckets=32,
        feed_forward_proj="relu",
        dropout_rate=0.0,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    config.save_pretrained(str(out_dir))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("t5sum/resources"), help="output root directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the synthetic data")
    parser.add_argument(
        "--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, help="tokenizer vocabulary size"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out
    seen: set[str] = set()
    splits: dict[str, list[dict[str, str]]] = {}
    for split, size in SPLIT_SIZES.items():
        rng = random.Random(f"{args.seed}/{split}")  # str seeds are hashed with SHA-512: stable everywhere
        splits[split] = generate_split(rng, split, size, seen)
        write_jsonl(out / "sample" / f"{split}.jsonl", splits[split])

    train_texts = [text for r in splits["train"] for text in (r["document"], r["summary"])]
    vocab_size = save_tokenizer(train_tokenizer(train_texts, args.vocab_size), out / "tiny-tokenizer")
    write_model_config(out / "tiny-t5", vocab_size)
    print(f"wrote {sum(map(len, splits.values()))} records, tokenizer (vocab {vocab_size}), tiny-t5 to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
