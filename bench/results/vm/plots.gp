set terminal pngcairo size 1100,500 noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left
set grid ytics
set xtics rotate by -20
set output 'bench/results/vm/time.png'
set title 'train_step, minimum of the runs: Portable Computing Language / pthread-skylake-avx512-AMD EPYC'
set ylabel 'milliseconds (log scale)'
set logscale y
plot for [i=2:5] 'bench/results/vm/train_step.dat' using i:xtic(1) title columnheader(i)
set output 'bench/results/vm/roofline.png'
set title 'achieved fraction of the roofline max(FLOP / FMA rate, bytes / copy bandwidth), train_step'
set ylabel 'fraction of the roofline'
unset logscale y
set yrange [0:*]
plot for [i=6:7] 'bench/results/vm/train_step.dat' using i:xtic(1) title columnheader(i)
