"""Test runs: a set of images × questions asked of one to four variants (model + choices), rated,
summarised and reported. Plain data and logic here; the store is ui/store/, the page ui/page/."""
