"""The lectures' row-by-row classification on scikit-learn's digits (fusedrnn.demos.digits).

    pip install ".[examples]" && python examples/digits.py     # or: python -m fusedrnn demo digits
"""

import os

from fusedrnn.demos import digits

if __name__ == "__main__":
    # PNG plots next to this script when matplotlib is installed.
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        digits.run()
    else:
        digits.run(plot_dir=os.path.dirname(os.path.abspath(__file__)))
