"""``python -m clsaudit.reference_pipeline --help``"""

from clsaudit.reference_pipeline.cli import train_reference

if __name__ == "__main__":
    train_reference(prog_name="python -m clsaudit.reference_pipeline")
