"""The lecture notes' example `forecasting` (fusedrnn.demos.forecasting).

    python examples/forecasting.py          # or: python -m fusedrnn demo forecasting
"""

import os

from fusedrnn.demos import forecasting

if __name__ == "__main__":
    # PNG plots next to this script when matplotlib is installed.
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        forecasting.run()
    else:
        forecasting.run(plot_dir=os.path.dirname(os.path.abspath(__file__)))
