// The client report's chart: the event's media hour by hour, from the figures the page carries
// (a JSON block, so the page needs no inline script). The tables below it stay the printed
// reference when a chart cannot be drawn.
import { chart, hourly } from '/charts.js';

const data = JSON.parse(document.getElementById('report-data')?.textContent || '{"timeline":[]}');
const hours = hourly(data.timeline);
if (hours.x.length) {
  document.getElementById('timeline').append(chart({
    lang: 'fr',
    x: hours.x,
    bucket: 3600,
    xLabel: 'Heure (Paris)',
    yLabel: 'Nombre',
    height: 240,
    series: [
      { label: 'Sessions', color: '#5b3cc4', kind: 'bars', values: hours.at('sessions') },
      { label: 'Impressions', color: '#c43c3c', kind: 'line', values: hours.at('prints') },
      { label: 'Partages', color: '#1a9a5a', kind: 'line', values: hours.at('digital') },
      { label: 'GIF', color: '#d08a00', kind: 'line', values: hours.at('gifs') },
    ],
  }));
}
