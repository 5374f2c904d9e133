"""Appeal text classification: jieba tokens and keyword tables -> disposition, category."""
