"""Names the command line offers, kept free of torch so `python -m training --help` starts instantly."""

SCORE_FUNCTIONS = ("dot", "general", "additive")  # attention score functions, see training/model.py
TOKENIZERS = ("bpe", "unigram")  # subword models, see training/data.py
PRECISIONS = ("auto", "bf16", "fp16", "fp32")  # CUDA autocast choices, see training/distributed.py
DEFAULT_DATASET = "bentrevett/multi30k"
