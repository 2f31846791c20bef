"""The report's inline style sheet and script (no network: nothing is loaded from elsewhere)."""

from __future__ import annotations

CSS = """
:root{--ok:#1f9d55;--bad:#d64545;--run:#d69e2e;--idle:#9aa1ab;--line:#e3e6ea;--ink:#1d232b;--soft:#5c6672}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;background:#fafbfc}
header{padding:16px 24px;background:#fff;border-bottom:1px solid var(--line)}
header h1{font-size:20px;margin:0 0 6px}
nav{padding:6px 24px;background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
nav a{margin-right:14px;color:var(--soft);text-decoration:none}
main{padding:8px 24px 40px}
section{margin:18px 0}
h2{font-size:16px;margin:0 0 8px}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;color:var(--soft)}
.meta b{color:var(--ink);font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:var(--idle)}
.badge.Succeeded{background:var(--ok)}.badge.Failed,.badge.Error{background:var(--bad)}.badge.Running{background:var(--run)}
.scroll.short{max-height:40vh}
.scroll{overflow:auto;max-height:70vh;background:#fff;border:1px solid var(--line);border-radius:6px}
svg.graph .edge{fill:none;stroke:#8a8f98;stroke-width:1.4}
svg.graph .node{cursor:pointer}
svg.graph .node rect{fill:#f1f3f5;stroke:#b8bec6;stroke-width:1.2}
svg.graph .node.kind-fanout rect{stroke-width:2.6;stroke-dasharray:6 2}
svg.graph .node.kind-group rect{fill:#fff}
svg.graph .node.phase-Succeeded rect{fill:#e3f6e9;stroke:var(--ok)}
svg.graph .node.phase-Failed rect,svg.graph .node.phase-Error rect{fill:#fde8e8;stroke:var(--bad)}
svg.graph .node.phase-Running rect{fill:#fff6dc;stroke:var(--run)}
svg.graph .node.phase-Skipped rect,svg.graph .node.phase-Omitted rect{fill:#fafafa;stroke:#d0d4d9}
svg.graph .node.selected rect{stroke-width:3.5}
svg.graph text{font-size:12px;fill:var(--ink)}
svg.graph text.sub{font-size:10.5px;fill:var(--soft)}
.fold{margin:8px 0;padding:8px;background:#fff;border:1px solid var(--line);border-radius:6px}
.chips{display:flex;flex-wrap:wrap;gap:3px;margin-top:4px}
.chip{width:14px;height:14px;border-radius:3px;background:var(--idle);display:inline-block}
.chip.Succeeded{background:var(--ok)}.chip.Failed,.chip.Error{background:var(--bad)}.chip.Running{background:var(--run)}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f4f6f8;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.selected td{background:#fffbe6}
.ph{font-weight:600}.ph.Succeeded{color:var(--ok)}.ph.Failed,.ph.Error{color:var(--bad)}.ph.Running{color:var(--run)}
.tl{position:relative;height:16px;background:#f4f6f8;border-radius:3px;min-width:240px}
.tl span{position:absolute;top:2px;height:12px;border-radius:3px;background:var(--idle);min-width:3px}
.tl span.Succeeded{background:var(--ok)}.tl span.Failed,.tl span.Error{background:var(--bad)}.tl span.Running{background:var(--run)}
td.tlcell{width:55%}
pre{background:#0f1720;color:#e6edf3;padding:8px 10px;border-radius:6px;overflow:auto;max-height:420px;font-size:12px;margin:4px 0;white-space:pre-wrap;word-break:break-all}
details{margin:4px 0}
summary{cursor:pointer}
.muted{color:var(--soft)}
.mark{display:inline-block;font-size:11px;padding:0 5px;border-radius:8px;background:#e6f0ff;color:#1d4ed8;margin-left:4px}
img.preview{max-width:420px;max-height:320px;border:1px solid var(--line);background:#fff}
.files td pre{max-height:220px}
code{font-size:12px}
"""

# Clicking a graph node selects its row in the step table and opens a fan-out's items.
# On a live page (the `ui` server) the content is fetched again every two seconds
# while the run goes on, keeping open <details> open.
JS = """
(function(){
  function select(id){
    document.querySelectorAll('.selected').forEach(function(e){e.classList.remove('selected');});
    var node=document.querySelector('[data-step="'+id+'"]');
    if(node){node.classList.add('selected');}
    var row=document.getElementById('step-'+id);
    if(row){row.classList.add('selected');}
    var fold=document.getElementById('fold-'+id);
    if(fold){fold.hidden=!fold.hidden; if(!fold.hidden){fold.scrollIntoView({block:'nearest'});} return;}
    if(row){row.scrollIntoView({block:'center'});}
  }
  function bind(){
    document.querySelectorAll('svg.graph .node').forEach(function(g){
      g.addEventListener('click',function(){select(g.getAttribute('data-step'));});
      g.addEventListener('keydown',function(ev){if(ev.key==='Enter'){select(g.getAttribute('data-step'));}});
    });
  }
  bind();
  if(document.body.getAttribute('data-live')==='1'){
    var timer=setInterval(function(){
      fetch(location.href,{cache:'no-store'}).then(function(r){return r.text();}).then(function(text){
        var doc=new DOMParser().parseFromString(text,'text/html');
        var fresh=doc.getElementById('content');
        var here=document.getElementById('content');
        if(!fresh||!here){return;}
        var open=[];
        here.querySelectorAll('details[open]').forEach(function(d){if(d.id){open.push(d.id);}});
        var shown=[];
        here.querySelectorAll('.fold').forEach(function(f){if(!f.hidden){shown.push(f.id);}});
        here.innerHTML=fresh.innerHTML;
        open.forEach(function(id){var d=document.getElementById(id); if(d){d.open=true;}});
        shown.forEach(function(id){var f=document.getElementById(id); if(f){f.hidden=false;}});
        bind();
        if(doc.body.getAttribute('data-live')!=='1'){clearInterval(timer);document.body.setAttribute('data-live','0');}
      }).catch(function(){});
    },2000);
  }
})();
"""
