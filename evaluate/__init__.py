"""Translation quality of a checkpoint (torch) or a bundle (onnxruntime) on each test set.

    python -m evaluate assets/en-de --data-dir ../shared/data/multi30k --data-dir ../shared/data/tatoeba/en-de
    python -m evaluate assets/en-de --split validation --tune-length-penalty 0.6,1,1.5,2,2.5
    python -m evaluate runs/en-de/best.pt --split test           # a checkpoint, decoded with torch: printed only

For a bundle, the results go to BUNDLE/evaluation.json (written atomically; manifest.json is never touched).
"""
