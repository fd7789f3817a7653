"""Train the bmm-attention GRU seq2seq: `python -m training --help`."""
