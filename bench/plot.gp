# plot.gp — the Pareto plot of bench/RESULTS.md: held-out TinyStories perplexity vs. the kept
# fraction of non-embedding parameters, one line per method. Called by bench/quality.sh as
#   gnuplot -e "datafile='pareto.dat'; outdir='bench'; nblocks=12; dense=10.2" bench/plot.gp
# datafile holds nblocks blocks, one per method (first line: the quoted method name), two blank
# lines apart; dense is the dense model's perplexity (a horizontal reference line); dts (optional)
# holds one dash type per block, space-separated (bench/results.py writes 2 for the reformed baselines).
if (!exists("datafile")) datafile = 'pareto.dat'
if (!exists("dts")) dts = ''
if (!exists("outdir")) outdir = 'bench'
if (!exists("nblocks")) nblocks = 1
set xlabel "kept fraction of non-embedding parameters"
set ylabel "held-out perplexity (TinyStories valid, seq-len 256)"
set logscale y
set key outside right top
set grid
set xrange [*:1.02]
set title "stories260K: quality vs. size"
# one line style per block: the default colour and point type of its index, its dash type from dts
do for [i=1:nblocks] {
    dt_i = words(dts) >= i ? int(word(dts, i)) : 1  # (a parenthesis after dashtype would read as a dash pattern)
    set style line i linecolor i pointtype i pointsize 1.2 dashtype dt_i
}
do for [fmt in "svg png"] {
    if (fmt eq "svg") { set terminal svg size 900,560 dynamic font "sans,12" } else { set terminal pngcairo size 900,560 font "sans,10" }
    set output outdir . "/pareto." . fmt
    if (exists("dense")) {
        plot for [i=0:nblocks-1] datafile index i using 1:2 with linespoints linestyle (i + 1) title columnheader(1), \
             dense with lines dashtype 3 lc rgb "black" title "dense"
    } else {
        plot for [i=0:nblocks-1] datafile index i using 1:2 with linespoints linestyle (i + 1) title columnheader(1)
    }
    unset output
}
