"""The lecture notes' example `text_generation` (fusedrnn.demos.text_generation).

python examples/text_generation.py          # or: python -m fusedrnn demo text_generation
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("text_generation", __file__)
