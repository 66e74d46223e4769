"""The lecture notes' example `forecasting` (fusedrnn.demos.forecasting).

python examples/forecasting.py          # or: python -m fusedrnn demo forecasting
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("forecasting", __file__)
