"""The inline parts of the HTML page of a run (``plots.html``): its style sheet, the script
that draws the charts from the run's data, and the template the page builder fills in.

The script reads the data from the ``run-data`` JSON element and builds every element with
``textContent`` (never markup from data). A first small script notes any error, rejected
promise or blocked fetch in ``#page-errors`` and the ``data-errors`` attribute of the root
element; after drawing, the root element carries ``data-front-points`` (points drawn) and
``data-ready``. The browser tests read those.
"""

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:12px 20px;
color:#222;background:#fff}
h1{font-size:20px;margin:8px 0}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}
dt{color:#666}dd{margin:0;overflow-wrap:anywhere}
.warn{color:#a33}.muted{color:#666}
.chartrow{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.chart{position:relative;flex:0 1 660px;max-width:660px}
.chart svg{width:100%;height:auto;display:block}
.controls{margin:4px 0 8px}.controls label{margin-right:14px}
.axis{stroke:#444}.grid{stroke:#e6e6e6}.tick{font-size:11px;fill:#444}
.alabel{font-size:12px;fill:#222}
.ev{fill:#b8b8b8}.member{fill:#d62728;stroke:#000;stroke-width:1;cursor:pointer}
.member:hover,.member:focus,.member.sel{fill:#ff7f0e;stroke-width:2.5;outline:none}
.plabel{font-size:10px;fill:#333;pointer-events:none}
.step{fill:none;stroke:#d62728;stroke-width:1}
.hvline{fill:none;stroke:#1f77b4;stroke-width:2}.hvpt{fill:#1f77b4}
#tip{position:absolute;pointer-events:none;background:#fffff4;border:1px solid #888;
border-radius:4px;padding:6px 8px;font-size:12px;box-shadow:0 2px 6px #0003;max-width:340px;
z-index:5}
.card table{border-collapse:collapse}.card td{padding:0 8px 0 0;vertical-align:top}
.card .k{color:#666}.card td.k{white-space:nowrap}
#selected{flex:1 1 380px;min-width:300px;border:1px solid #ddd;border-radius:6px;padding:8px}
#members{border-collapse:collapse;font-family:ui-monospace,monospace;font-size:12.5px}
#members th,#members td{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}
#members td.muls,#members td.hash,#members th:nth-child(n+7){text-align:left}
#members tr.sel{background:#ffe9d6}#members tr[data-k]:hover{background:#f3f3f3}
.netbox{overflow:auto;max-height:520px;border:1px solid #eee;margin:4px 0 10px}
.net .edge{fill:none;stroke:#555}.net .arrow{fill:#555}
.net rect{stroke:#333}.net text{font-size:10.5px;text-anchor:middle;fill:#111}
.net .op{font-weight:600}
details summary{cursor:pointer;font-family:ui-monospace,monospace;font-size:12.5px}
#page-errors{color:#a33;white-space:pre-wrap}
"""

GUARD = """
(function(){var list=[];function note(m){list.push(String(m));
var el=document.getElementById("page-errors");if(el){el.textContent=list.join("\\n");
el.hidden=false;}document.documentElement.setAttribute("data-errors",String(list.length));}
window.__pageError=note;
window.addEventListener("error",function(e){note("error: "+(e.message||e.type));});
window.addEventListener("unhandledrejection",function(e){note("rejection: "+e.reason);});
document.addEventListener("securitypolicyviolation",function(e){
note("blocked by the page's policy: "+e.blockedURI+" ("+e.violatedDirective+")");});
document.documentElement.setAttribute("data-errors","0");})();
"""

SCRIPT = r"""
(function(){
"use strict";
var D=JSON.parse(document.getElementById("run-data").textContent);
var SVGNS=document.getElementById("front").namespaceURI;
var AX=D.axes, MEM=D.members;
function el(tag,attrs,parent,text){var e=document.createElementNS(SVGNS,tag);
 for(var k in attrs){e.setAttribute(k,attrs[k]);} if(text!==undefined){e.textContent=text;}
 if(parent){parent.appendChild(e);} return e;}
function h(tag,text,cls){var e=document.createElement(tag);if(text!==undefined){e.textContent=text;}
 if(cls){e.className=cls;} return e;}
function f(v,d){return v===null||v===undefined?"-":Number(v).toFixed(d);}
function g(v){if(v===null||v===undefined){return "-";}var a=Math.abs(v);
 if(Number.isInteger(v)&&a<1e15){return v.toLocaleString("en-US");}
 return a!==0&&(a<1e-3||a>=1e6)?v.toExponential(3):String(Number(v.toPrecision(5)));}
function scale(vals,lo,hi,wantLog){var mn=Math.min.apply(null,vals),mx=Math.max.apply(null,vals);
 var log=wantLog&&mn>0&&mx/mn>50;
 var a=log?Math.log10(mn):mn,b=log?Math.log10(mx):mx;if(a===b){a-=0.5;b+=0.5;}
 var pad=(b-a)*0.06;a-=pad;b+=pad;
 var s=function(v){return lo+((log?Math.log10(v):v)-a)/(b-a)*(hi-lo);};
 s.ticks=function(){var t=[];if(log){var d=b-a,step=d>6?2:1;
   for(var e=Math.ceil(a);e<=Math.floor(b);e+=step){t.push(Math.pow(10,e));}
   if(t.length<3){[2,5].forEach(function(m){for(var e2=Math.floor(a);e2<=Math.ceil(b);e2++){
     var v=m*Math.pow(10,e2);if(Math.log10(v)>=a&&Math.log10(v)<=b){t.push(v);}}});
   t.sort(function(x,y){return x-y;});}return t;}
  var raw=(b-a)/6,p=Math.pow(10,Math.floor(Math.log10(raw))),st=p;
  [1,2,5,10].some(function(m){st=m*p;return st>=raw;});
  for(var v=Math.ceil(a/st)*st;v<=b+1e-12;v+=st){t.push(Math.abs(v)<st*1e-9?0:+v.toPrecision(12));}
  return t;};
 s.log=log;return s;}
function axes(svg,W,H,M,sx,sy,xl,yl){
 sx.ticks().forEach(function(v){var x=sx(v);
  el("line",{x1:x,x2:x,y1:M.t,y2:H-M.b,"class":"grid"},svg);
  el("text",{x:x,y:H-M.b+15,"text-anchor":"middle","class":"tick"},svg,g(v));});
 sy.ticks().forEach(function(v){var y=sy(v);
  el("line",{x1:M.l,x2:W-M.r,y1:y,y2:y,"class":"grid"},svg);
  el("text",{x:M.l-6,y:y+4,"text-anchor":"end","class":"tick"},svg,g(v));});
 el("line",{x1:M.l,x2:W-M.r,y1:H-M.b,y2:H-M.b,"class":"axis"},svg);
 el("line",{x1:M.l,x2:M.l,y1:M.t,y2:H-M.b,"class":"axis"},svg);
 el("text",{x:(M.l+W-M.r)/2,y:H-8,"text-anchor":"middle","class":"alabel"},svg,
   xl+(sx.log?" (log scale)":""));
 el("text",{x:14,y:(M.t+H-M.b)/2,"text-anchor":"middle","class":"alabel",
   transform:"rotate(-90 14 "+(M.t+H-M.b)/2+")"},svg,yl+(sy.log?" (log scale)":""));}
function card(m){var box=h("div",undefined,"card");
 box.appendChild(h("div","#"+m.k+"  "+m.hash+"  (generation "+m.generation+")","k"));
 var t=h("table");function row(k,v){var r=h("tr");r.appendChild(h("td",k,"k"));
  r.appendChild(h("td",v));t.appendChild(r);}
 row("validation accuracy",f(m.val_accuracy,4));
 row("test accuracy",f(m.test_accuracy,4)+(m.test_reason?" ("+m.test_reason+")":""));
 row("power",f(m.power_rel,4)+" x exact, "+f(m.power_mw,2)+" mW-equivalents");
 row("parameters",g(m.params));row("multiplications",g(m.multiplications));
 m.extra.forEach(function(p){row(p[0],g(p[1]));});box.appendChild(t);
 box.appendChild(h("div","multipliers per layer ("+m.layers.length+")","k"));
 var lt=h("table");m.layers.forEach(function(p){var r=h("tr");r.appendChild(h("td",p[0]));
  r.appendChild(h("td",p[1]));lt.appendChild(r);});
 if(!m.layers.length){var r=h("tr");r.appendChild(h("td","-"));lt.appendChild(r);}
 box.appendChild(lt);return box;}
var front=document.getElementById("front"),tip=document.getElementById("tip");
var xs=document.getElementById("xaxis"),ys=document.getElementById("yaxis");
AX.forEach(function(a,i){[xs,ys].forEach(function(s){var o=h("option",a.label);o.value=String(i);
 s.appendChild(o);});});
function idx(key,fallback){for(var i=0;i<AX.length;i++){if(AX[i].key===key){return i;}}
 return fallback;}
xs.value=String(idx("power_rel",0));ys.value=String(idx("error",idx("val_accuracy",0)));
var selected=null;
function showTip(m,node){tip.textContent="";tip.appendChild(card(m));tip.hidden=false;
 var box=front.getBoundingClientRect(),c=node.getBoundingClientRect(),
  par=tip.parentNode.getBoundingClientRect();
 var left=c.left-par.left+14,top=c.top-par.top+14;
 if(left+tip.offsetWidth>par.width){left=Math.max(0,c.left-par.left-tip.offsetWidth-10);}
 if(top+tip.offsetHeight>box.bottom-par.top+60){top=Math.max(0,c.top-par.top-tip.offsetHeight-10);}
 tip.style.left=left+"px";tip.style.top=top+"px";}
function hideTip(){tip.hidden=true;}
function select(k){selected=k;var m=MEM[k];
 document.querySelectorAll(".sel").forEach(function(e){e.classList.remove("sel");});
 document.querySelectorAll('[data-k="'+k+'"]').forEach(function(e){
  if(e.tagName!=="DETAILS"){e.classList.add("sel");}});
 var pane=document.getElementById("selected");pane.textContent="";
 pane.appendChild(h("h3","selected member #"+k));pane.appendChild(card(m));
 var det=document.getElementById("member-"+k),svg=det&&det.querySelector(".netbox");
 if(svg){var nb=h("div",undefined,"netbox");nb.innerHTML=svg.innerHTML;pane.appendChild(nb);}}
function draw(){var xi=+xs.value,yi=+ys.value,xa=AX[xi],ya=AX[yi];
 while(front.firstChild){front.removeChild(front.firstChild);}hideTip();
 var W=660,H=440,M={l:70,r:18,t:14,b:46};
 var pts=MEM.filter(function(m){return m.v[xi]!==null&&m.v[yi]!==null;});
 var ev=D.evaluated.filter(function(v){return v[xi]!==null&&v[yi]!==null;});
 var note=document.getElementById("count");
 note.textContent=pts.length+" of "+MEM.length+" front members have both values; grey: "+
  ev.length+" candidates trained with the full budget";
 document.documentElement.setAttribute("data-front-points",String(pts.length));
 if(!pts.length&&!ev.length){el("text",{x:W/2,y:H/2,"text-anchor":"middle"},front,
  "no candidate has both values");return;}
 var all=pts.map(function(m){return m.v;}).concat(ev);
 var sx=scale(all.map(function(v){return v[xi];}),M.l,W-M.r,true),
  sy=scale(all.map(function(v){return v[yi];}),H-M.b,M.t,true);
 axes(front,W,H,M,sx,sy,xa.label,ya.label);
 ev.forEach(function(v){el("circle",{cx:sx(v[xi]),cy:sy(v[yi]),r:3,"class":"ev"},front);});
 var sgn=function(a){return a.dir==="max"?-1:1;};
 var nd=pts.filter(function(p){return !pts.some(function(q){
  var a=sgn(xa)*q.v[xi],b=sgn(ya)*q.v[yi],c=sgn(xa)*p.v[xi],d=sgn(ya)*p.v[yi];
  return a<=c&&b<=d&&(a<c||b<d);});}).sort(function(p,q){return p.v[xi]-q.v[xi];});
 if(nd.length>1){var dd="";nd.forEach(function(p,i){var x=sx(p.v[xi]),y=sy(p.v[yi]);
  dd+=i===0?"M"+x+" "+y:"H"+x+"V"+y;});el("path",{d:dd,"class":"step"},front);}
 pts.forEach(function(m){var c=el("circle",{cx:sx(m.v[xi]),cy:sy(m.v[yi]),r:6,
  "class":"member"+(m.k===selected?" sel":""),tabindex:"0","data-k":String(m.k),
  role:"button","aria-label":"front member "+m.k},front);
  c.addEventListener("mouseenter",function(){showTip(m,c);});
  c.addEventListener("focus",function(){showTip(m,c);});
  c.addEventListener("mouseleave",hideTip);c.addEventListener("blur",hideTip);
  c.addEventListener("click",function(){select(m.k);});
  c.addEventListener("keydown",function(e){if(e.key==="Enter"||e.key===" "){
   e.preventDefault();select(m.k);}});
  el("text",{x:sx(m.v[xi])+7,y:sy(m.v[yi])-6,"class":"plabel"},front,String(m.k));});}
function hv(){var svg=document.getElementById("hv"),H=D.history.filter(function(e){
  return e.hypervolume!==null;});
 if(!H.length){svg.hidden=true;document.getElementById("hv-none").hidden=false;return;}
 var W=660,Ht=300,M={l:70,r:18,t:14,b:46};
 var sx=scale(H.map(function(e){return e.generation;}),M.l,W-M.r,false),
  sy=scale(H.map(function(e){return e.hypervolume;}),Ht-M.b,M.t,false);
 var t0=sx.ticks;sx.ticks=function(){return t0().filter(Number.isInteger);};
 axes(svg,W,Ht,M,sx,sy,"generation","hypervolume (normalized objectives)");
 el("path",{d:H.map(function(e,i){return (i?"L":"M")+sx(e.generation)+" "+sy(e.hypervolume);})
  .join(""),"class":"hvline"},svg);
 H.forEach(function(e){var c=el("circle",{cx:sx(e.generation),cy:sy(e.hypervolume),r:4,
  "class":"hvpt"},svg);el("title",{},c,"generation "+e.generation+": hypervolume "+
  g(e.hypervolume)+", front "+g(e.front_size)+", "+g(e.evaluations)+" evaluations");});
 svg.setAttribute("data-points",String(H.length));}
document.querySelectorAll("#members tr[data-k]").forEach(function(r){var k=+r.dataset.k;
 r.addEventListener("click",function(){select(k);});
 r.addEventListener("keydown",function(e){if(e.key==="Enter"){select(k);}});
 r.addEventListener("mouseenter",function(){var c=front.querySelector('circle[data-k="'+k+'"]');
  if(c){c.classList.add("sel");}});
 r.addEventListener("mouseleave",function(){var c=front.querySelector('circle[data-k="'+k+'"]');
  if(c&&k!==selected){c.classList.remove("sel");}});});
xs.addEventListener("change",draw);ys.addEventListener("change",draw);
draw();hv();if(MEM.length){select(0);}
document.documentElement.setAttribute("data-ready","1");
})();
"""

TEMPLATE = """<!DOCTYPE html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta http-equiv=Content-Security-Policy content="default-src 'none'; script-src 'unsafe-inline';
 style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name=viewport content="width=device-width, initial-scale=1">
<title>@@TITLE@@</title>
<style>""" + STYLE + """</style>
<script>""" + GUARD + """</script>
</head>
<body>
<h1>@@NAME@@</h1>
<pre id=page-errors hidden></pre>
<p>@@SUMMARY@@</p>
@@NOTES@@
<dl>@@FACTS@@</dl>
<h2>Pareto front</h2>
<div class=controls><label>x <select id=xaxis></select></label>
<label>y <select id=yaxis></select></label>
<span id=count class=muted></span></div>
<div class=chartrow>
<div class=chart><svg id=front viewBox="0 0 660 440" role=group
 aria-label="Pareto front scatter"></svg><div id=tip hidden></div></div>
<div id=selected><p class=muted>click a point or a table row to pin a member</p></div>
</div>
<p class=muted>Red: the members of the front over all objectives (hover or focus one with
Tab; click or Enter pins it); the red line: the front of the two metrics shown; grey: every
candidate trained with the full budget. Errors and accuracies are measured with the
approximate multipliers.</p>
<h2>Hypervolume per generation</h2>
<div class=chart><svg id=hv viewBox="0 0 660 300" role=img
 aria-label="hypervolume per generation"></svg>
<p id=hv-none class=muted hidden>no generation has finished yet</p></div>
<h2>Members</h2>
@@TABLE@@
<h2>Networks</h2>
@@NETWORKS@@
<p class=muted>written by evoapproxnas @@VERSION@@ (report --html)</p>
<script type=application/json id=run-data>@@DATA@@</script>
<script>""" + SCRIPT + """</script>
</body>
</html>
"""
