"""The message catalog: every resident-facing text, in Simplified Chinese, in one place."""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, str] = {
    # menu and help
    "welcome": (
        "您好，这里是{center}诉求服务平台。请直接描述您遇到的问题，"
        "或选择下面的功能。任何时候回复“取消”可退出当前操作。"
    ),
    "help": (
        "可以这样使用：\n"
        "· 我要反映：描述问题、上传照片和位置，提交后立即获得受理编号\n"
        "· 查询进度：查看您的诉求办理情况和办理记录\n"
        "· 补充材料：为尚未办结的诉求补充文字或照片\n"
        "· 撤回：撤回尚未办结的诉求\n"
        "· 取消：退出当前操作"
    ),
    "weekend.greeting": (
        "今天是周末或节假日，“诉求直通车”照常受理：紧急事项由值班人员当天处理，"
        "其他诉求受理后从下一个工作日起计算办理时限。"
    ),
    "menu.new": "我要反映",
    "menu.my": "查询进度",
    "menu.supplement": "补充材料",
    "menu.withdraw": "撤回",
    "menu.help": "帮助",
    "cancelled": "已取消，未提交的内容已清除。需要时随时再来。",
    "nothing_to_cancel": "当前没有进行中的操作。",
    "draft_expired": "您上次未完成的反映已超时作废，请重新开始。",
    "restarted": "已重新开始填写。",
    "resume": "您上次的操作还没有完成，我们接着来：",
    "resume.options": "请从以下选项中选择（回复“取消”可放弃）：",
    "finish_current_first": "您正在填写一件诉求，请先完成，或回复“取消”放弃后再操作。",
    "option_expired": "该选项已失效，请在最新的消息中选择。",
    # the appeal form
    "ask.describe": "请用文字描述您要反映的问题（发生了什么、在哪里、持续多久），{min}～{max}字。",
    "ask.photos": (
        "如有现场照片，请发送（最多{max}张）；发送完毕请回复“完成”，没有照片请回复“跳过”。"
    ),
    "photo.received": "已收到第{count}张照片。还可以继续发送，或回复“完成”。",
    "photo.received_last": "已收到第{count}张照片，照片已达上限，请回复“完成”。",
    "photo.again": "这张照片已经收到过了，不重复保存。",
    "photo.before_text": "已收到第{count}张照片。请再用文字描述您要反映的问题（发生了什么、在哪里）。",
    "ask.location": "请发送位置，或直接输入详细地址（如：某某街道某某小区3栋）；不需要请回复“跳过”。",
    "ask.phone": "请留下您的手机号码，便于工作人员联系您（仅工作人员可见，对外显示为部分隐藏）。",
    "ask.phone.optional": "不方便留电话可回复“跳过”（匿名反映，工作人员将无法回电）。",
    "ask.phone.saved": "也可以直接使用您上次留下的号码 {phone}。",
    "summary": (
        "请确认您的诉求：\n内容：{text}\n照片：{photos}张\n位置：{place}\n电话：{phone}\n"
        "确认无误请回复“确认提交”。"
    ),
    "place.none": "未提供",
    "option.done": "完成",
    "option.skip": "跳过",
    "option.confirm": "确认提交",
    "option.confirm_secret": "🔒 保密提交",
    "option.withdraw": "确认撤回",
    "option.more": "下一页",
    "option.solved": "问题已解决",
    "option.file_anyway": "仍要提交",
    "option.add_to": "补充到 {number}",
    "summary.secret_hint": "如不希望部门看到您的姓名和电话，请选择“保密提交”。",
    "summary.secret": "🔒 将保密处理：承办部门看不到您的姓名和电话。",
    "option.cancel": "取消",
    "option.use_phone": "使用 {phone}",
    "option.share_phone": "发送我的手机号",
    "option.share_location": "发送我的位置",
    "option.onsite": "已现场处置",
    "option.follow": "关注 {number}，不重复提交",
    "similar.found": "附近已有类似的诉求 {number}（{status}），您可以选择关注它，办理结果会同样通知您。",
    "similar.own": "您已提交过类似的诉求 {number}（{status}）。如是同一问题，可以把这次的内容补充到该诉求，不必重复提交。",
    "similar.added": "已把这次的内容补充到诉求 {number}，办理人员会一并看到。",
    "similar.following": "已为您关注诉求 {number}，办理进展会通知您。",
    # the mobile page (码上办, /m)
    "web.title": "{center} · 码上办",
    "web.lead": "扫码反映问题，无需下载应用、无需关注公众号。",
    "web.send": "发送",
    "web.placeholder": "输入文字，或点选上面的选项",
    "web.photos": "📷 拍照/相册",
    "web.photos_send": "上传照片",
    "web.locate": "📍 发送当前位置",
    "web.locate_failed": "无法获取您的位置，请直接输入详细地址。",
    "web.font_big": "放大字体",
    "web.font_normal": "标准字体",
    "web.new": "新消息",
    "web.me.photos": "📷 {count}张照片",
    "web.me.location": "📍 我的位置",
    "web.me.words": "{text}",
    "web.may_call": "您留下的电话是 {phone}，工作人员可能会致电联系您，请留意来电。",
    "web.open.link": "在其他手机上提交过？凭编号和电话查询",
    "web.open.title": "凭编号和电话查询诉求",
    "web.open.lead": "请输入诉求编号和提交时留下的电话号码。查到后，该诉求的进度和通知也会显示在本机。",
    "web.open.number": "诉求编号（如 SQ20261201-0001）",
    "web.open.phone": "提交时留下的电话",
    "web.open.submit": "查询",
    "web.open.failed": "编号或电话不正确，请核对后再试。",
    "web.open.locked": "尝试次数过多，请{minutes}分钟后再试。",
    "web.back": "返回对话",
    "web.too_fast": "操作太频繁，请稍后再试。",
    "web.expired": "页面已过期，请返回刷新后重试。",
    "web.no_cookie": "请允许浏览器保存Cookie，然后返回刷新页面。",
    "note.opened_elsewhere": "群众在另一设备上凭编号和电话打开",
    # QR posters (appealbot qr)
    "poster.title": "码上办",
    "poster.call": "遇到问题？扫一扫，随时反映",
    "poster.steps": "描述问题 · 拍照定位 · 获得编号 · 随时查进度",
    "poster.grid": "所属网格：{grid}",
    "poster.free": "扫上方二维码即可反映，无需下载应用、无需关注公众号",
    "poster.telegram": "或用 Telegram 扫码反映",
    "poster.wechat": "或微信扫码关注公众号",
    "grid.entered": "您正在通过“{grid}”的二维码反映问题，诉求将由所属网格和乡镇（街道）跟进。",
    "grid.only": "该功能仅限网格员使用。网格员请先用邀请码绑定：/join 邀请码",
    "grid.ask_phone": "如是代群众反映，请输入群众的手机号码；没有请回复“跳过”。",
    "grid.ask_name": "请输入群众姓名（可回复“跳过”）。",
    "grid.bad_name": "姓名请在{max}字以内，或回复“跳过”。",
    "grid.summary": "代群众反映：{name}",
    "grid.ask_onsite": "请先发送现场处置后的照片，再用文字说明处置结果。",
    "grid.onsite_photo": "已收到照片。请用文字说明处置结果（也可以继续发送照片）。",
    "grid.onsite_needs_photo": "现场处置需要至少一张处置后的照片。",
    "grid.onsite_recorded": "已记录为现场处置，编号 {number}，处置结果和照片已存入台账。",
    # bad input
    "bad.empty": "内容不能为空，请用文字描述问题。",
    "bad.no_content": "没有看到文字内容，请用文字写清发生了什么、在哪里。",
    "bad.too_short": "描述太简短了，请至少写{min}个字，说明发生了什么、在哪里。",
    "bad.too_long": "描述太长了（{length}字），请精简到{max}字以内。",
    "bad.not_text": "暂不支持语音、贴纸或文件，请用文字描述。",
    "bad.not_photo": "这一步请发送照片，或回复“完成”“跳过”。",
    "bad.too_many_photos": "最多只能上传{max}张照片，这一张未保存。请回复“完成”继续。",
    "bad.photo_type": "这个文件不是照片（仅支持 JPG、PNG、GIF、WEBP），未保存，请重新发送。",
    "bad.photo_size": "照片太大（超过{max_mb}MB），未保存，请压缩后重新发送。",
    "bad.photo_here": "这一步不需要照片，请按提示操作。",
    "bad.location": "请发送位置或输入地址（{max}字以内），不需要请回复“跳过”。",
    "bad.location_far": "这个位置不在我们的服务范围（中国境内）内，请重新发送位置或输入地址，不需要请回复“跳过”。",
    "bad.phone": "“{value}”不是有效的电话号码，请输入11位手机号（如 13800138000）或带区号的固定电话（如 0731-88888888）。",
    "bad.contact_not_own": "只能发送您本人的联系方式，请点“发送我的手机号”或直接输入号码。",
    "bad.choice": "请从以下选项中选择（可回复序号）。",
    "bad.daily_limit": "您今天已提交{limit}件诉求，已达到当日上限，请明天再提交；遇到危险请立即拨打110（报警）、119（火警）或120（急救）。",
    # submission
    "submitted": "您的诉求已受理，编号 {number}。",
    "submitted.sorted": "分类：{category}\n办理方式：{disposition}（{means}）",
    "submitted.department": "已转交 {department} 办理。",
    "submitted.triage": "工作人员将在1个工作日内研判并分派办理。",
    "submitted.deadline": "我们将在 {deadline} 前给您答复。",
    "submitted.answer": "答复：{answer}",
    "faq.recorded": "感谢您的咨询，已记录（编号 {number}）。还有其他问题，随时再来。",
    "faq.answer": "{answer}\n\n以上答复能解决您的问题吗？如仍需工作人员办理，请回复“仍要提交”。",
    "submitted.keep_number": "请记住编号，回复“查询进度”可随时查看办理情况。",
    # an ongoing danger to life: the advice comes before anything else
    "emergency.gas": "⚠️ 燃气险情，请立即：\n1. 不要开关电灯、电器，不要点火，不要在屋内打电话；\n2. 轻开门窗通风，关闭燃气总阀；\n3. 马上离开，到室外安全处拨打 119（火警）或燃气公司抢修电话。",
    "emergency.fire": "⚠️ 火情，请立即：\n1. 拨打 119（火警）；\n2. 用湿毛巾捂住口鼻、弯腰走安全通道离开，不要乘电梯；\n3. 离开后不要返回取物。有人受伤请拨打 120。",
    "emergency.electric": "⚠️ 触电险情，请立即：\n1. 远离掉落的电线至少10米，不要用手或金属物触碰伤者；\n2. 能安全断电时先断开电源；\n3. 拨打 120（急救），电力抢修拨打 95598；起火请拨打 119。",
    "emergency.violence": "⚠️ 有人身危险，请立即拨打 110（报警）！\n先保证自己安全，远离危险的人或地点；有人受伤请拨打 120（急救）。如有人轻生，请尽量陪伴、不要刺激，等待民警到场。",
    "emergency.medical": "⚠️ 有人身危险，请立即拨打 120（急救）；有人被困或落水请拨打 119、110。\n不要贸然下水或进入危险处所，注意自身安全。",
    "emergency.other": "⚠️ 如有人身危险，请立即拨打 110（报警）、119（火警）或 120（急救）！",
    "emergency.filed": "已为您登记紧急诉求，编号 {number}，值班人员和领导已同时收到通知，会尽快联系您。\n确保安全后，可直接发送现场位置、照片或文字补充情况；补充完毕请回复“完成”。",
    "urgent.safety": "已标记为紧急，我们会尽快安排处理。",
    # progress and supplements
    "pick.timeline.none": "您还没有提交或关注过诉求。回复“我要反映”开始。",
    "pick.timeline": "您共有{total}件诉求（含关注的），请选择要查看的一件（也可以直接输入编号）：",
    "my.item": "{number} {status} {category} {date}",
    "case.not_found": "没有找到诉求 {number}。只能查看您本人提交或关注的诉求，请核对编号。",
    "rate.now": "该诉求已办结，请对办理结果进行评价：",
    "timeline.head": "诉求 {number}（{status}）\n{text}\n办理记录：",
    "timeline.item": "{time} {action}{note}",
    "pick.supplement.none": "您没有正在办理中的诉求可以补充。",
    "pick.supplement": "请选择要补充材料的诉求：",
    "supplement.ask": "请发送要补充的文字或照片，发送完毕请回复“完成”。",
    "supplement.added": "已补充到诉求 {number}。还可以继续发送，或回复“完成”。",
    "supplement.done": "补充材料已完成，共{count}条。",
    "pick.withdraw.none": "您没有可以撤回的诉求。",
    "pick.withdraw": "请选择要撤回的诉求：",
    "withdraw.ask_reason": "请简单说明撤回原因（例如：问题已自行解决）。",
    "withdraw.confirm": "确认撤回诉求 {number} 吗？撤回后将不再办理。\n撤回原因：{reason}",
    "withdraw.done": "诉求 {number} 已撤回。",
    "case.gone": "该诉求当前状态不能进行此操作。",
    "error.sorry": "抱歉，系统出了点问题，这条消息没有处理成功，请稍后重新发送。",
    "error.photo_fetch": "抱歉，这张照片没有接收成功，请重新发送。",
    # the local console
    "console.banner": "本地控制台（输入 /photo 路径 发送照片，/location 纬度 经度 发送位置，/as 部门名称 切换为部门工作人员，/as 回到群众身份，/quit 退出）",
    "console.photo_usage": "用法：/photo 图片路径",
    "console.as_resident": "居民",
    "console.as_dispatcher": "调度员",
    "console.as_back": "已切换回群众身份。",
    "console.as_now": "已切换为“{name}”身份。",
    "console.as_unknown": "没有“{name}”这个部门。可用：/as 部门名称（见 config.yaml 的 departments）、/as 调度员，/as 回到群众身份。",
    "console.photo_missing": "找不到或无法读取文件：{path}",
    "console.location_usage": "用法：/location 纬度 经度（例如 /location 28.19 112.97）",
    # satisfaction
    "rate.ask_reason": "很抱歉没有让您满意。请说明不满意的原因，我们将交由原部门重新办理。",
    "rate.ask_comment": "感谢您的评价！如有意见或建议可直接回复，不需要请回复“跳过”。",
    "rate.thanks": "感谢您的评价，诉求 {number} 已办结归档。",
    "rate.reopened": "已收到您的意见，诉求 {number} 已交由原部门重新办理，我们将在 {deadline} 前答复您。",
    "rate.already": "诉求 {number} 已经评价过了，感谢您的反馈。",
    # reports (staff-facing)
    "report.head": "【{period}】{start} 至 {end}",
    "report.period.day": "日报",
    "report.period.week": "周报",
    "report.period.month": "月报",
    "report.period.range": "区间报表",
    "report.received": "受理诉求 {count} 件，其中周末及节假日 {off} 件",
    "report.by_channel": "渠道：{counts}",
    "report.by_category": "分类：{counts}",
    "report.by_disposition": "办理方式：{counts}",
    "report.by_grid": "网格：{counts}",
    "report.no_grid": "未指定网格",
    "report.rates": "办结率 {finish}｜按期办结率 {on_time}｜响应率 {response}｜满意率 {satisfaction}｜矛盾纠纷化解率 {disputes}",
    "report.departments": "各部门：受理/办结/按期/超期/重办",
    "report.department_row": "  {department}：{received}/{finished}/{on_time}/{overdue}/{reopened}",
    "report.overdue": "超期及临期未办结 {count} 件：",
    "report.keywords": "高频词：{words}",
    "report.post": "{text}",
    # the staff desk (staff-facing)
    "staff.usage.join": "用法：/join 邀请码 [姓名]（在与机器人的私聊中发送）",
    "staff.usage.bind": "用法：/bind 邀请码（在部门工作群中发送）",
    "staff.bind_in_group": "请在部门工作群中发送 /bind 邀请码。",
    "staff.join_in_private": "请在与机器人的私聊中发送 /join 邀请码。",
    "staff.joined": "绑定成功：{role} {where}",
    "staff.bound": "本群已绑定为“{department}”工作群，新诉求将推送到这里。",
    "staff.todo.none": "目前没有待办诉求。",
    "staff.web.link": "工作台登录链接（{minutes}分钟内有效，只能使用一次，请勿转发）：\n{url}",
    "staff.web.in_private": "登录链接只发给本人，请在与机器人的私聊中发送 /web。",
    "staff.web.off": "网页工作台未开启，请联系管理员。",
    "staff.web.not_staff": "网页工作台仅供已绑定的工作人员使用。工作人员请先用邀请码 /join 绑定。",
    "staff.todo.head": "待办诉求 {count} 件（按办结时限排序）：",
    "staff.todo.item": "{index}. {flag}{number} {category} {status} 时限 {deadline}",
    "staff.option.open": "办理 {number}",
    "button.sign": "签收",
    "button.return": "退回",
    "button.extend": "申请延期",
    "button.resolve": "办结",
    "button.route_other": "其他部门",
    "button.urgent": "标记紧急",
    "button.merge": "合并重复件",
    "button.ext_ok": "同意延期",
    "button.ext_no": "不同意",
    "button.supervise": "督办",
    "staff.signed": "已签收诉求 {number}，请按时办结。",
    "staff.ask.return": "请说明退回诉求 {number} 的理由（如：不属于本部门职责）。",
    "staff.ask.resolve": "请发送诉求 {number} 的办理结果（文字，将告知群众）；如有现场照片可先发送。",
    "staff.ask.extend_days": "诉求 {number} 需要延期几个工作日？请回复1～30的数字。",
    "staff.ask.extend_reason": "请说明延期理由。",
    "staff.ask.route": "请回复诉求 {number} 的承办部门名称：{names}",
    "staff.ask.merge": "请回复诉求 {number} 要并入的原诉求编号（如 SQ20261123-0001）。",
    "staff.need_text": "请用文字回复（{max}字以内），或回复“取消”。",
    "staff.photo_received": "已收到照片，请继续发送办理结果文字。",
    "staff.returned": "诉求 {number} 已退回综治中心重新分派。",
    "staff.resolved": "诉求 {number} 已办结，结果已告知群众。",
    "staff.extension_requested": "已为诉求 {number} 申请延期 {days} 个工作日，等待综治中心审批。",
    "staff.extension_approved": "已同意诉求 {number} 延期 {days} 个工作日。",
    "staff.extension_refused": "已驳回诉求 {number} 的延期申请。",
    "staff.routed": "诉求 {number} 已交 {department} 办理。",
    "staff.marked_urgent": "诉求 {number} 已标记为紧急，已通知领导。",
    "staff.merged": "诉求 {number} 已并入 {into}，群众已收到通知。",
    "staff.supervised": "已向承办部门发出督办：{number}。",
    "staff.refused.forbidden": "您无权处理这件诉求（仅承办部门或综治中心工作人员可操作），未做任何更改。",
    "staff.refused.center_only": "只有综治中心调度员可以进行此操作，未做任何更改。",
    "staff.refused.supervise": "您无权督办这件诉求（仅综治中心调度员或领导可以督办），未做任何更改。",
    "staff.refused.state": "这件诉求当前的状态不能进行此操作，未做任何更改。",
    "staff.refused.invite": "邀请码无效、已使用或已撤销。",
    "staff.refused.unknown": "找不到这件诉求或部门，请核对编号。",
    "staff.refused.days": "延期天数需为1～30个工作日。",
    "staff.refused.merge": "只能并入另一件未被合并的诉求。",
    "staff.refused.note": "请填写理由或结果。",
    "staff.refused.role": "不能为该角色生成邀请码。",
    "staff.refused.phone": "只有综治中心调度员、领导和管理员可以查看完整号码。",
    "staff.refused.stale": "这件诉求在您打开页面后有了新的办理记录（可能已经办过），未做任何更改。请看过最新情况后再操作。",
    "staff.refused.too_long": "文字太长，请精简到{chars}字以内，未做任何更改。",
    "staff.refused.photos": "最多上传{photos}张照片，未做任何更改。",
    "staff.refused.photo_type": "有文件不是照片（仅支持 JPG、PNG、GIF、WEBP），未做任何更改。",
    "staff.refused.photo_empty": "有照片是空文件，未做任何更改。",
    "staff.refused.photo_size": "有照片太大（超过{max_mb}MB），未做任何更改。请压缩后重新上传。",
    # ledger notes written from the staff desk (staff-facing)
    "note.supervise": "{role}督办",
    "note.retention": "超过保存期限（{span}），电话、位置和照片已删除",
    "note.erased": "应本人要求，电话、位置和照片已删除",
    "note.urgent": "{role}标记为紧急",
    "note.extension_request": "{days}个工作日：{reason}",
    # Ledger notes the clock and the resident dialog write.
    "note.remind": "{stage}期限 {due}",
    "note.overdue": "超过{stage}期限",
    "note.escalate": "办理超期，报送值班领导",
    "note.callback": "第{step}次回访",
    "note.not_rated": "未评价",
    "note.look_back_unsatisfied": "回头看：群众不满意",
    "note.follow": "另一位群众反映了同一问题",
    "note.location": "补充位置：{place}",
    "note.photo": "[照片]",
    "note.triage": "待人工研判",
    "note.no_callback": "无群众需回访（网格员自行上报）",
    # cards for departments and the dispatcher (staff-facing)
    "card.department": "【{headline}】{number}｜{category}·{type} {urgency}\n{text}\n位置：{place}（网格：{grid}）\n联系电话：{phone}\n办结时限：{deadline}\n分类依据：{keywords}",
    "card.triage": "【待研判：{headline}】{number}｜{category}·{type} {urgency}\n{text}\n位置：{place}（网格：{grid}）\n联系电话：{phone}\n分类依据：{keywords}（把握度{confidence}）\n疑似重复：{duplicates}\n请选择承办部门：",
    "card.headline.new": "新诉求",
    "card.headline.todo": "待办",
    "card.headline.reopened": "群众不满意，重办：{reason}",
    "card.headline.triage": "分类把握不大",
    "card.headline.returned": "部门退回：{reason}",
    "card.headline.duty": "诉求直通车·值班处理",
    "card.headline.duty_leader": "紧急诉求·请值班领导关注",
    "card.headline.emergency": "🚨险情·危及生命·请立即处置",
    "card.urgency.normal": "",
    "card.urgency.urgent": "⚠️紧急",
    "card.urgency.life": "🚨危及生命",
    "card.phone_secret": "（举报人信息保密）",
    # notifications
    "notify.dispatched": "您的诉求 {number} 已转交 {department} 办理。",
    "notify.signed": "您的诉求 {number} 已由 {department} 签收，正在办理。",
    "notify.resolved": "您的诉求 {number} 已办结。办理结果：{note}",
    "notify.merged": "您的诉求 {number} 与此前的同类诉求合并办理，已并入 {note}。",
    "notify.reopened": "您的诉求 {number} 已重新交办，我们会尽快处理。",
    "notify.rate_request": "您的诉求 {number} 已办结，请对办理结果进行评价（回复序号即可）：",
    "outbox.undeliverable": "消息无法送达群众（已屏蔽、取消关注或超出可发送时限），请电话联系。",
    "notify.extension_request": "诉求 {number}（{category}）承办部门申请延期 {days} 个工作日。理由：{reason}",
    "notify.extension_approved": "诉求 {number} 的延期申请已同意，办结时限顺延 {days} 个工作日。",
    "notify.extension_refused": "诉求 {number} 的延期申请未获同意，请按原时限办结。",
    "notify.urgent": "🚨 紧急诉求 {number}（{category}）：{text}",
    "notify.supervise": "督办：请尽快办理诉求 {number}（{category}）并反馈。",
    "notify.look_back": "回头看：诉求 {number}（{category}）上月至今仍未办结，请尽快办理并反馈。",
    "notify.remind": "提醒：诉求 {number}（{category}）的{stage}期限为 {due}，请抓紧办理。",
    "notify.overdue": "督办：诉求 {number}（{category}）已超过{stage}期限（{due}），请立即办理并反馈。",
    "notify.unreached": "⚠️ {department} 没有绑定工作群，也没有能联系上的工作人员，以下通知未能送达，请电话转告，并为其绑定工作群或工作人员：\n{notice}",
    "notify.escalate": "升级督办：诉求 {number}（{category}）办理严重超期（期限 {due}），责任单位：{department}。",
    # telegram
    "telegram.command.start": "开始使用",
    # wechat
    "wechat.subscribed": "感谢关注！",
    "wechat.location_hint": "（点击输入框旁的“+”，选择“位置”即可发送定位）",
    "wechat.choice": "{index} {label}",
    "wechat.choice_separator": "，",
    "wechat.reply_with": "回复 {choices}",
    "wechat.choice_line": "{index}. {label}",
    "wechat.reply_with_number": "请回复序号选择。",
    "wechat.menu.consult": "咨询",
    "wechat.template_hint": "在公众号内回复任意消息即可继续办理。",
}

ROLE = {
    "resident": "群众",
    "grid_worker": "网格员",
    "staff": "部门工作人员",
    "dispatcher": "综治中心调度员",
    "leader": "领导",
    "admin": "管理员",
    "system": "系统",
}

STAGE = {"accept": "签收", "finish": "办结"}

FLAG = {"red": "🔴超期", "yellow": "🟡临期", "": ""}

STATUS_GROUP = {"open": "未办结", "finished": "已办结"}

URGENCY = {"normal": "一般", "urgent": "紧急", "life": "危及生命"}

# The 台账 exported to Excel (web/ledger.py): the sheet's name, its columns in order, and
# how a ticked yes/no column reads.
LEDGER_SHEET = {
    "title": "台账",
    "yes": "是",
    "number": "编号",
    "created": "受理时间",
    "channel": "渠道",
    "text": "诉求内容",
    "category": "分类",
    "appeal_type": "类型",
    "disposition": "处置方式",
    "department": "承办部门",
    "grid": "网格",
    "address": "地址",
    "urgency": "紧急程度",
    "status": "状态",
    "deadline": "办结时限",
    "flag": "时限提示",
    "reopened": "重办次数",
    "whistleblowing": "举报",
    "phone": "联系电话",
}

STATUS = {
    "submitted": "待分派",
    "answered": "已答复",
    "assigned": "中心即办",
    "dispatched": "已转办",
    "signed": "办理中",
    "returned": "重新分派中",
    "resolved": "已办结",
    "rated": "已评价",
    "closed": "已办结（未评价）",
    "reopened": "重新办理",
    "withdrawn": "已撤回",
    "merged": "已合并",
    "archived": "已归档",
}

ACTION = {
    "submit": "提交受理",
    "triage": "等待人工研判",
    "answer": "已答复",
    "assign": "中心即办",
    "dispatch": "转交",
    "sign": "部门签收",
    "return": "重新分派",
    "resolve": "办理完毕",
    "rate": "评价",
    "close": "办结",
    "reopen": "重新办理",
    "withdraw": "撤回",
    "merge": "合并",
    "archive": "归档",
    "supplement": "补充材料",
    "follow": "群众关注",
    "urgent": "标记紧急",
    "extension_request": "申请延期",
    "extension_approved": "同意延期",
    "extension_refused": "驳回延期",
    "remind": "到期提醒",
    "supervise": "督办",
    "escalate": "升级督办",
    "callback": "回访",
    "unreachable": "无法联系群众",
    "unreached": "通知未能送达部门",
    "comment": "评价意见",
    "anonymise": "个人信息已删除",
    "phone_viewed": "查看完整号码",
}

DISPOSITION = {"consultation": "咨询", "immediate": "即办", "referral": "转办"}

# What a disposition means for the resident (told with it when an appeal is filed).
DISPOSITION_MEANS = {
    "consultation": "即时答复",
    "immediate": "当日办理",
    "referral": "交职能部门或乡镇街道办理",
}

CHANNEL = {"console": "控制台", "telegram": "Telegram", "wechat": "微信公众号", "web": "网页"}

# Actions the resident's timeline leaves out: the center's own wiring, not their case's progress.
INTERNAL_ACTIONS = frozenset({"unreached"})

# Actions whose note the resident may read; others (e.g. a department's reason) stay internal.
PUBLIC_NOTES = frozenset(
    {
        "answer",
        "dispatch",
        "resolve",
        "supplement",
        "withdraw",
        "merge",
        "rate",
        "reopen",
        "comment",
    }
)


def t(key: str, **params: Any) -> str:
    """The catalog's text for `key`; a param may itself be a catalog text (see `shown`)."""
    return MESSAGES[key].format(**{name: shown(value) for name, value in params.items()})


def refused(code: str, **params: Any) -> str:
    """Why a staff action changed nothing, by the workflow's refusal code (LifecycleError.code);
    `params` fill the texts that name a limit."""
    key = f"staff.refused.{code}"
    return t(key if key in MESSAGES else "staff.refused.state", **params)


def shown(value: Any) -> Any:
    """A stored value as shown: a catalog text stored for later, {"key": …, **params} (as
    workflow.cards.text writes it), rendered now; anything else as it is."""
    return t(**value) if isinstance(value, dict) else value
