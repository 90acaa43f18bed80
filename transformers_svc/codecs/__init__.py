"""Request and response formats, one module per encoding (ORES, Lift Wing output, KServe v2)."""
