"""What every layer uses: atomic files, fixed-size statistics, text tables, random streams, interrupts."""
