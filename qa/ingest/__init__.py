"""Articles in: readers per file format, text cleaning, and the pipeline that embeds and stores them."""
