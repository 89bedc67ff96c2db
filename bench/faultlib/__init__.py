"""The fault and flood bench (``bench/faults.py``): the rig, the attackers and the scenarios."""
