"""What several test files share: paths, small helpers, a `chroma run` process, articles and scripted replies. Test files import from here, never from each other."""
