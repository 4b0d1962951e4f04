"""Pure statistics on counts and arrays (numpy / scipy / statsmodels only): paired intervals, TOST, McNemar, Wilson, Cohen's h, Holm, Mantel-Haenszel, power."""
