{% include "portal/_search.js" %}
