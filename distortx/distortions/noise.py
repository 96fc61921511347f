"""(being written)"""
SPECS = ()
