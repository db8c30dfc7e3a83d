"""The benchmark's own machinery (load generator, rounds, report, CPU budgets, instruction counts):
run with `.venv/bin/pytest bench/tests`. Not part of the product's test run."""
