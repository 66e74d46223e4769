"""The lectures' row-by-row classification on scikit-learn's digits (fusedrnn.demos.digits).

pip install ".[examples]" && python examples/digits.py     # or: python -m fusedrnn demo digits
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("digits", __file__)
