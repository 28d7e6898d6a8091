# ops.gp - counted operations per io-out exit by kernel and policy: state
# crossings (ioctls, VMCS calls, IPC beyond the entry), bytes of state copied
# and thread hops. Counted by the backends, not timed.
# gnuplot -e "datadir='build/bench'; outdir='plots'" plots/ops.gp
# Data: datadir/plot-ops.dat: kernel, then crossings, bytes and hops for
# genode and tuned (kvm: genode = full + entrypoint, tuned = fast), '?' = not
# measured.
if (!exists("datadir")) datadir = "build/bench"
if (!exists("outdir")) outdir = "plots"
data = datadir."/plot-ops.dat"

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left noenhanced
set yrange [0:*]
set datafile missing "?"

do for [t in "png svg"] {
    if (t eq "png") {
        set terminal pngcairo size 1300,460 font "sans,10"
        set output outdir."/ops.png"
    } else {
        set terminal svg size 1300,460 dynamic font "sans,10"
        set output outdir."/ops.svg"
    }
    set multiplot layout 1,3 title "Per io-out exit, by kernel (counted, not timed)"
    set title "state crossings per exit"
    plot data using 2:xtic(1) title "genode", '' using 3 title "tuned"
    set title "bytes of state copied per exit"
    plot data using 4:xtic(1) title "genode", '' using 5 title "tuned"
    set title "thread hops per exit"
    plot data using 6:xtic(1) title "genode", '' using 7 title "tuned"
    unset multiplot
}
