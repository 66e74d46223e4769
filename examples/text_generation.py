"""The lecture notes' example `text_generation` (fusedrnn.demos.text_generation).

    python examples/text_generation.py          # or: python -m fusedrnn demo text_generation
"""

from fusedrnn.demos import text_generation

if __name__ == "__main__":
    text_generation.run()
