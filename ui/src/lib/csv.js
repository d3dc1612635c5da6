// Reads the first rows of a CSV file in the browser for the mapping preview
// (the server parses the whole file itself): quotes, embedded newlines, and
// the delimiter guessed from the header line.
export function detectDelimiter(line) {
  const counts = [',', ';', '\t'].map((d) => [d, line.split(d).length]);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0][0];
}

export function parseCsv(text, maxRows = 6) {
  text = text.replace(/^\uFEFF/, '');
  const delim = detectDelimiter(text.split(/\r?\n/, 1)[0] || '');
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === delim) row.push(cell), (cell = '');
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if ((cell !== '' || row.length) && rows.length < maxRows) rows.push([...row, cell]);
  return { delimiter: delim, header: rows[0] || [], rows: rows.slice(1) };
}
