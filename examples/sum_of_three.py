"""The lecture notes' example `sum_of_three` (fusedrnn.demos.sum_of_three).

    python examples/sum_of_three.py          # or: python -m fusedrnn demo sum_of_three
"""

import os

from fusedrnn.demos import sum_of_three

if __name__ == "__main__":
    # PNG plots next to this script when matplotlib is installed.
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sum_of_three.run()
    else:
        sum_of_three.run(plot_dir=os.path.dirname(os.path.abspath(__file__)))
