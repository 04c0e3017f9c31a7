"""The label convention every module shares: known classes are 0..K-1 (positions in the split's
known list) and every sample of an unknown class or an out-of-distribution set is UNKNOWN."""

UNKNOWN = -1
