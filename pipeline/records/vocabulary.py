"""The registers' vocabularies: applicant types, reply outcomes (with the table 三 row each counts in, per
format version) and appeal results, labelled as the official annual-report format prints them."""

from __future__ import annotations

APPLICANT_TYPES: dict[str, str] = {
    "natural_person": "自然人",
    "commercial": "商业企业",
    "research": "科研机构",
    "public_interest": "社会公益组织",
    "legal_service": "法律服务机构",
    "other": "其他",
}

WITHHELD = (("withheld_secret", "1.属于国家秘密"), ("withheld_law", "2.其他法律行政法规禁止公开"),
            ("withheld_safety", "3.危及“三安全一稳定”"), ("withheld_third_party", "4.保护第三方合法权益"),
            ("withheld_internal", "5.属于三类内部事务信息"), ("withheld_process", "6.属于四类过程性信息"),
            ("withheld_enforcement", "7.属于行政执法案卷"), ("withheld_query", "8.属于行政查询事项"))
UNABLE = (("unable_not_held", "1.本机关不掌握相关政府信息"), ("unable_needs_creation", "2.没有现成信息需要另行制作"),
          ("unable_unclear", "3.补正后申请内容仍不明确"))
DECLINED = (("declined_petition", "1.信访举报投诉类申请"), ("declined_repeat", "2.重复申请"),
            ("declined_publication", "3.要求提供公开出版物"), ("declined_excessive", "4.无正当理由大量反复申请"),
            ("declined_confirmation", "5.要求行政机关确认或重新出具已获取信息"))

# Register outcomes (第三十六条 replies) -> the row they count in, per format version.
OUTCOMES: dict[str, tuple[str, dict[str, str]]] = {
    "disclosed": ("予以公开", {"2019": "disclosed", "2021": "disclosed"}),
    "partly_disclosed": ("部分公开", {"2019": "partly_disclosed", "2021": "partly_disclosed"}),
    **{key: (f"不予公开：{label[2:]}", {"2019": key, "2021": key}) for key, label in WITHHELD},
    **{key: (f"无法提供：{label[2:]}", {"2019": key, "2021": key}) for key, label in UNABLE},
    **{key: (f"不予处理：{label[2:]}", {"2019": key, "2021": key}) for key, label in DECLINED},
    "lapsed_no_correction": ("申请人无正当理由逾期不补正", {"2019": "other", "2021": "other_no_correction"}),
    "lapsed_unpaid_fee": ("申请人逾期未按收费通知要求缴纳费用", {"2019": "other", "2021": "other_unpaid_fee"}),
    "other": ("其他处理（如申请人撤回申请）", {"2019": "other", "2021": "other_other"}),
}

APPEAL_RESULTS = {"upheld": "结果维持", "corrected": "结果纠正", "other": "其他结果"}
