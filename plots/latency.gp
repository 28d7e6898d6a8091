# latency.gp - p50 round trip per exit type and policy on kvm (bars).
# gnuplot -e "datadir='build/bench'; outdir='plots'" plots/latency.gp
# Data: datadir/plot-latency.dat (microbench/gen-results.py): one row per
# exit, one column per policy, p50 in microseconds, '?' = not measured.
if (!exists("datadir")) datadir = "build/bench"
if (!exists("outdir")) outdir = "plots"
data = datadir."/plot-latency.dat"

set title "Exit-to-resume round trip on kvm, p50 (same run, interleaved)"
set ylabel "round trip p50 (µs)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -30 nomirror
set grid ytics
set key top left noenhanced
set yrange [0:*]
set datafile missing "?"
ncols = system("head -1 ".data." | wc -w") + 0

set terminal pngcairo size 1100,560 font "sans,10"
set output outdir."/latency.png"
plot for [i=2:ncols] data using i:xtic(1) title columnheader(i)
set terminal svg size 1100,560 dynamic font "sans,10"
set output outdir."/latency.svg"
replot
