# cdf.gp - latency CDF of the io-out round trip on kvm: fast, full and
# entrypoint, with bare as the floor.
# gnuplot -e "datadir='build/bench'; outdir='plots'" plots/cdf.gp
# Data: datadir/cdf/kvm_io-out_<policy>.cdf ("ns fraction", roof-bench --out).
if (!exists("datadir")) datadir = "build/bench"
if (!exists("outdir")) outdir = "plots"
file(p) = datadir."/cdf/kvm_io-out_".p.".cdf"
exists_file(p) = system("test -s ".file(p)." && echo 1 || echo 0") + 0

set title "io-out round trip on kvm: distribution (CDF)"
set xlabel "round trip (µs, log scale)"
set ylabel "fraction of exits"
set logscale x
set grid
set key bottom right noenhanced
set yrange [0:1]
policies = "bare fast full entrypoint"
set terminal pngcairo size 900,540 font "sans,10"
set output outdir."/cdf.png"
plot for [p in policies] (exists_file(p) ? file(p) : 1/0) \
     using ($1/1000):2 with lines lw 2 title p
set terminal svg size 900,540 dynamic font "sans,10"
set output outdir."/cdf.svg"
replot
