"""The peak resident memory of a finished `pipe` process, in MiB.

`wait4`'s ru_maxrss is the high-water mark the kernel holds at exit, and
`pipe run` resets that mark before each item to measure the item's own
peak: ru_maxrss is then the last item's peak only. `pipe run` prints the
whole run's peak on its summary line (`ran 2 items (0 cached) in 3.1 s,
peak 904 MB`, megabytes of 10^6 bytes; with `--format json`, a line
`{"run_peak_memory_bytes": N}`); this takes the larger of the two.
For other processes (the Python peers) it is ru_maxrss.
"""
import re


def peak_mib(ru_maxrss_kib, stderr=b""):
    """The process's peak in MiB from wait4's ru_maxrss (KiB) and its stderr."""
    peak = ru_maxrss_kib / 1024
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    found = re.search(r"ran \d+ items? \(\d+ cached\) in [\d.]+ s, peak ([\d,.]+) MB", text)
    if found:
        peak = max(peak, float(found.group(1).replace(",", "")) * 1e6 / 2**20)
    found = re.search(r'"run_peak_memory_bytes":\s*(\d+)', text)
    if found:
        peak = max(peak, int(found.group(1)) / 2**20)
    return peak
