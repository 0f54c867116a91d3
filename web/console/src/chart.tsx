/** A uPlot line chart of series sharing one time axis; a table of the same numbers follows it for screen readers. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  /** By bucket start in seconds since the epoch. */
  values: Map<number, number | null>;
}

const COLOURS = ['#1f5fbf', '#b3261e', '#1e7b34', '#8a4b00', '#6b3fa0', '#00727a', '#5c5c5c', '#a0306b'];

export function LineChart({ title, unit, series, range, width = 520 }: { title: string; unit: string; series: ChartSeries[]; range?: [number, number]; width?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const xs = [...new Set(series.flatMap((s) => [...s.values.keys()]))].sort((a, b) => a - b);
    const data: uPlot.AlignedData = [xs, ...series.map((s) => xs.map((x) => s.values.get(x) ?? null))];
    const plot = new uPlot(
      {
        title,
        width,
        height: 220,
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true, size: 5 }, spanGaps: false }))],
        axes: [{}, { label: unit, size: 60 }],
        // The whole window asked for, even where it has no calls (uPlot would otherwise zoom onto the points).
        scales: { x: range ? { time: true, range: () => range } : { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      },
      data,
      box.current,
    );
    return () => plot.destroy();
  }, [series, title, unit, width, range?.[0], range?.[1]]);
  return (
    <figure class="chart" data-series={series.length} data-points={series.reduce((n, s) => n + [...s.values.values()].filter((v) => v !== null).length, 0)}>
      <div ref={box} aria-hidden="true" />
      <figcaption class="visually-hidden">
        {title} ({unit}): {series.map((s) => `${s.label}: ${[...s.values.values()].filter((v) => v !== null).join(', ')}`).join('; ')}
      </figcaption>
    </figure>
  );
}
