"""The lecture notes' example `next_two` (fusedrnn.demos.next_two).

python examples/next_two.py          # or: python -m fusedrnn demo next_two
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("next_two", __file__)
