# bench/plot-latency.gnuplot: write latency against throughput for raftnode and etcd, one point
# per client count of the sweep (bench/run.sh draws docs/benchmarks-latency.png with it).
#
#   gnuplot -e "datafile='sweep.dat'; outfile='out.png'; subtitle='...'" bench/plot-latency.gnuplot
#
# datafile: one line per client count, "clients rn_writes_per_s rn_p50_ms rn_p99_ms
# etcd_writes_per_s etcd_p50_ms etcd_p99_ms", a missing figure written as n/a.
set terminal pngcairo size 960,620 font "sans,10" noenhanced
set output outfile
set title "Write latency against throughput, closed loop, 1-256 clients\n".subtitle
set xlabel "throughput (writes/s)"
set ylabel "latency per write (ms, log scale)"
set logscale y
set grid xtics ytics mytics
set key top left box opaque
set datafile missing "n/a"
set xrange [0:*]
set offsets 0, graph 0.05, 0, 0
rn = "#1f5fa8"
et = "#c0392b"
plot datafile using 2:3 with linespoints lw 2 pt 7 ps 1.2 lc rgb rn title "raftnode p50", \
     datafile using 2:4 with linespoints lw 2 dt 2 pt 5 ps 1.0 lc rgb rn title "raftnode p99", \
     datafile using 5:6 with linespoints lw 2 pt 7 ps 1.2 lc rgb et title "etcd p50", \
     datafile using 5:7 with linespoints lw 2 dt 2 pt 5 ps 1.0 lc rgb et title "etcd p99", \
     datafile using 2:3:(sprintf("%d", $1)) with labels offset 1.2,-0.8 font ",8" tc rgb rn notitle, \
     datafile using 5:6:(sprintf("%d", $1)) with labels offset 1.2,-0.8 font ",8" tc rgb et notitle
