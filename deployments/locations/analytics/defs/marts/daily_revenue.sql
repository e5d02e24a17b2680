-- Revenue per order day. Cancelled orders never became revenue; refunded ones did (gross revenue: refunds
-- are reported by the refund marts, not netted here).
select
    cast(order_ts as date) as order_date,
    count(*) as orders,
    count(distinct customer_id) as customers,
    sum(total_amount) as revenue,
    round(sum(total_amount) / count(*), 2) as avg_order_value,
    max(order_ts) as last_order_at
from $orders
where status <> 'cancelled'
group by cast(order_ts as date)
