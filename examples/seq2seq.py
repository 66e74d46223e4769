"""The lecture notes' example `seq2seq` (fusedrnn.demos.seq2seq).

python examples/seq2seq.py          # or: python -m fusedrnn demo seq2seq
"""

from fusedrnn.demos import script

if __name__ == "__main__":
    script("seq2seq", __file__)
