"""The 政府网站工作年度报表 (国办函〔2018〕12号, 附件 政府网站工作年度报表): its rows in printed order, each a cell.

The notice asks every government website to publish the form on its home page by 31 January; its parts are
信息发布、专栏专题、解读回应、办事服务、互动交流、安全防护、移动新媒体、创新发展. A cell is `w.NAME`; a number the
ledger cannot know is the per-year figure `web.NAME` (gongkai figures set YEAR web.NAME VALUE); a figure set for a
cell the ledger fills replaces the ledger's number (and the cross-check with the 年度报告 then compares it).
"""

from __future__ import annotations

from dataclasses import dataclass

COUNT, FLAG, DECIMAL, TEXT = "count", "flag", "decimal", "text"
LEDGER, FIGURE, DERIVED, SETTING = "ledger", "figure", "derived", "setting"


@dataclass(frozen=True)
class Row:
    """One line of the form: its part, its label (with the unit as printed), and how it is filled."""

    cell: str
    part: str
    label: str
    type: str = COUNT
    source: str = FIGURE


PARTS = ("网站基本信息", "信息发布", "专栏专题", "解读回应", "办事服务", "互动交流", "安全防护", "移动新媒体",
         "创新发展")
ROWS: tuple[Row, ...] = (
    Row("w.site.name", "网站基本信息", "网站名称", TEXT, SETTING),
    Row("w.site.url", "网站基本信息", "首页网址", TEXT, SETTING),
    Row("w.site.host", "网站基本信息", "主办单位", TEXT, SETTING),
    Row("w.site.type", "网站基本信息", "网站类型", TEXT, SETTING),
    Row("w.site.code", "网站基本信息", "政府网站标识码", TEXT, SETTING),
    Row("w.site.icp", "网站基本信息", "ICP备案号", TEXT, SETTING),
    Row("w.site.psb", "网站基本信息", "公安机关备案号", TEXT, SETTING),
    Row("w.site.visitors", "网站基本信息", "独立用户访问总量（单位：个）"),
    Row("w.site.visits", "网站基本信息", "网站总访问量（单位：次）"),
    Row("w.info.total", "信息发布", "信息发布（单位：条）/总数", COUNT, LEDGER),
    Row("w.info.overview", "信息发布", "信息发布/概况类信息更新量", COUNT, LEDGER),
    Row("w.info.news", "信息发布", "信息发布/政务动态信息更新量", COUNT, LEDGER),
    Row("w.info.disclosure", "信息发布", "信息发布/信息公开目录信息更新量", COUNT, LEDGER),
    Row("w.topics.maintained", "专栏专题", "专栏专题（单位：个）/维护数量"),
    Row("w.topics.new", "专栏专题", "专栏专题/新开设数量"),
    Row("w.interp.total", "解读回应", "解读信息发布（单位：条）/总数", COUNT, DERIVED),
    Row("w.interp.materials", "解读回应", "解读信息发布/解读材料数量", COUNT, LEDGER),
    Row("w.interp.products", "解读回应", "解读信息发布/解读产品数量"),
    Row("w.interp.comments", "解读回应", "解读信息发布/媒体评论文章数量"),
    Row("w.interp.responses", "解读回应", "回应公众关注热点或重大舆情数量（单位：次）"),
    Row("w.service.catalogue", "办事服务", "是否发布服务事项目录", FLAG),
    Row("w.service.users", "办事服务", "注册用户数（单位：万）", DECIMAL),
    Row("w.service.items", "办事服务", "政务服务事项数量（单位：项）"),
    Row("w.service.online", "办事服务", "可全程在线办理政务服务事项数量（单位：项）"),
    Row("w.service.cases", "办事服务", "办件量（单位：件）/总数", COUNT, DERIVED),
    Row("w.service.natural", "办事服务", "办件量/自然人办件量"),
    Row("w.service.legal", "办事服务", "办件量/法人办件量"),
    Row("w.talk.platform", "互动交流", "是否使用统一平台", FLAG),
    Row("w.talk.received", "互动交流", "留言办理/收到留言数量（单位：条）"),
    Row("w.talk.closed", "互动交流", "留言办理/办结留言数量（单位：条）"),
    Row("w.talk.days", "互动交流", "留言办理/平均办理时间（单位：天）", DECIMAL),
    Row("w.talk.public", "互动交流", "留言办理/公开答复数量（单位：条）"),
    Row("w.talk.surveys", "互动交流", "征集调查/征集调查期数（单位：期）"),
    Row("w.talk.opinions", "互动交流", "征集调查/收到意见数量（单位：条）"),
    Row("w.talk.results", "互动交流", "征集调查/公布调查结果期数（单位：期）"),
    Row("w.talk.interviews", "互动交流", "在线访谈/访谈期数（单位：期）"),
    Row("w.talk.questions", "互动交流", "在线访谈/网民留言数量（单位：条）"),
    Row("w.talk.answers", "互动交流", "在线访谈/答复网民提问数量（单位：条）"),
    Row("w.talk.qa", "互动交流", "是否提供智能问答功能", FLAG),
    Row("w.security.checks", "安全防护", "安全检测评估次数（单位：次）"),
    Row("w.security.found", "安全防护", "发现问题数量（单位：个）"),
    Row("w.security.fixed", "安全防护", "问题整改数量（单位：个）"),
    Row("w.security.monitoring", "安全防护", "是否建立安全监测预警机制", FLAG),
    Row("w.security.drills", "安全防护", "是否开展应急演练", FLAG),
    Row("w.security.owner", "安全防护", "是否明确网站安全负责人", FLAG),
    Row("w.mobile.any", "移动新媒体", "是否有移动新媒体", FLAG, DERIVED),
    Row("w.weibo.name", "移动新媒体", "微博/名称", TEXT, SETTING),
    Row("w.weibo.posts", "移动新媒体", "微博/信息发布量（单位：条）", COUNT, LEDGER),
    Row("w.weibo.followers", "移动新媒体", "微博/关注量（单位：个）"),
    Row("w.wechat.name", "移动新媒体", "微信/名称", TEXT, SETTING),
    Row("w.wechat.posts", "移动新媒体", "微信/信息发布量（单位：条）", COUNT, LEDGER),
    Row("w.wechat.subscribers", "移动新媒体", "微信/订阅数（单位：个）"),
    Row("w.mobile.other", "移动新媒体", "其他", TEXT, SETTING),
    Row("w.new.search", "创新发展", "搜索即服务", FLAG),
    Row("w.new.languages", "创新发展", "多语言版本", FLAG),
    Row("w.new.accessible", "创新发展", "无障碍浏览", FLAG),
    Row("w.new.personal", "创新发展", "千人千网", FLAG),
    Row("w.new.other", "创新发展", "其他", TEXT, SETTING),
)
BY_CELL = {row.cell: row for row in ROWS}
SIGNATURES = (("head", "单位负责人"), ("reviewer", "审核人"), ("filler", "填报人"), ("phone", "联系电话"))


def figure_keys() -> dict[str, tuple[str, str]]:
    """The per-year figures of the form (pipeline.records.figures): web.NAME -> (type, meaning)."""
    keys = {}
    for row in ROWS:
        if row.source in (FIGURE, LEDGER) or (row.source == DERIVED and row.type == COUNT):
            default = {LEDGER: " (default: from the ledger)", DERIVED: " (default: the sum of its parts)"}.get(
                row.source, "")
            keys["web." + row.cell.removeprefix("w.")] = (row.type, f"政府网站工作年度报表: {row.label}{default}")
    return keys
