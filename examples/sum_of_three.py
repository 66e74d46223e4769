"""The lecture notes' example `sum_of_three` (fusedrnn.demos.sum_of_three).

    python examples/sum_of_three.py          # or: python -m fusedrnn demo sum_of_three
"""

from fusedrnn.demos import sum_of_three

if __name__ == "__main__":
    sum_of_three.run()
