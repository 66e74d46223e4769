"""The lecture notes' example `sum_of_three` (fusedrnn.demos.sum_of_three).

python examples/sum_of_three.py          # or: python -m fusedrnn demo sum_of_three
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("sum_of_three", __file__)
