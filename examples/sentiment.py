"""The lecture notes' example `sentiment` (fusedrnn.demos.sentiment).

    python examples/sentiment.py          # or: python -m fusedrnn demo sentiment
"""

from fusedrnn.demos import sentiment

if __name__ == "__main__":
    sentiment.run()
