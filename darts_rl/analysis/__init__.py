"""Analysis of finished workdirs: reports, search-efficiency comparisons, cell similarity, diagrams.

Reads workdir files through darts_rl.artifacts and may use darts_rl.search for its types;
training code never imports this package (nor matplotlib): tests/test_structure.py checks both.
"""
