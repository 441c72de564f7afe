# Conveniences over ./dev.sh, which needs nothing but Python >= 3.10 (and bash).
.PHONY: demo test lint bench setup
demo test lint bench setup:
	./dev.sh $@
