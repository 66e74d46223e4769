"""The lecture notes' example `sentiment` (fusedrnn.demos.sentiment).

python examples/sentiment.py          # or: python -m fusedrnn demo sentiment
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("sentiment", __file__)
