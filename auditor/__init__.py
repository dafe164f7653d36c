"""clsaudit: audit PyTorch image-classification training scripts.

The static half (``clsaudit train.py``) never imports torch; keep this module
free of heavy imports so that the console script starts fast.
"""

__version__ = "0.1.0"
