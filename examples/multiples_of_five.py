"""The lecture notes' example `multiples_of_five` (fusedrnn.demos.multiples_of_five).

python examples/multiples_of_five.py          # or: python -m fusedrnn demo multiples_of_five
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("multiples_of_five", __file__)
